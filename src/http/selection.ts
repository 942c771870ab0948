import {
  getDirectiveValues,
  GraphQLIncludeDirective,
  GraphQLSkipDirective,
  Kind,
  type FieldNode,
  type FragmentSpreadNode,
  type GraphQLResolveInfo,
  type InlineFragmentNode,
  type SelectionSetNode,
} from 'graphql';

/**
 * Whether graphql-js will execute this selection: not under `@skip(if: true)` nor
 * `@include(if: false)`, with the operation's variables (the spec's CollectFields, and
 * graphql-js's shouldIncludeNode, which is not exported).
 */
function isIncluded(info: GraphQLResolveInfo, node: FieldNode | InlineFragmentNode | FragmentSpreadNode): boolean {
  if (!node.directives?.length) return true;
  if (getDirectiveValues(GraphQLSkipDirective, node, info.variableValues)?.if === true) return false;
  return getDirectiveValues(GraphQLIncludeDirective, node, info.variableValues)?.if !== false;
}

/**
 * The fields with one of these names directly under the given selection sets, following
 * fragments: every occurrence that will run, aliases included. A field, inline fragment or
 * fragment spread under `@skip(if: true)` or `@include(if: false)` is left out, as
 * execution leaves it out (issue 13 review: a skipped list must not be built, checked or
 * refused). Lets a resolver size, check or skip work by what the client selected (the
 * deletion payload's pages, issue 13).
 */
export function fieldsNamed(
  info: GraphQLResolveInfo,
  selectionSets: Array<SelectionSetNode | undefined>,
  names: readonly string[],
): FieldNode[] {
  const found: FieldNode[] = [];
  const visit = (selectionSet: SelectionSetNode | undefined) => {
    for (const selection of selectionSet?.selections ?? []) {
      if (!isIncluded(info, selection)) continue;
      if (selection.kind === Kind.FIELD) {
        if (names.includes(selection.name.value)) found.push(selection);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) visit(selection.selectionSet);
      else visit(info.fragments[selection.name.value]?.selectionSet);
    }
  };
  selectionSets.forEach(visit);
  return found;
}
