import { Kind, type FieldNode, type GraphQLResolveInfo, type SelectionSetNode } from 'graphql';

/**
 * The fields with one of these names directly under the given selection sets, following
 * fragments: every occurrence, aliases included. Lets a resolver size or skip work by
 * what the client selected (the deletion payload's pages, issue 13).
 */
export function fieldsNamed(
  info: GraphQLResolveInfo,
  selectionSets: Array<SelectionSetNode | undefined>,
  names: readonly string[],
): FieldNode[] {
  const found: FieldNode[] = [];
  const visit = (selectionSet: SelectionSetNode | undefined) => {
    for (const selection of selectionSet?.selections ?? []) {
      if (selection.kind === Kind.FIELD) {
        if (names.includes(selection.name.value)) found.push(selection);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) visit(selection.selectionSet);
      else visit(info.fragments[selection.name.value]?.selectionSet);
    }
  };
  selectionSets.forEach(visit);
  return found;
}
