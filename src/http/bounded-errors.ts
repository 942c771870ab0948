import type { ApolloServerPlugin } from '@apollo/server';
import { getNamedType, GraphQLError, isInputObjectType, isScalarType, type GraphQLFormattedError, type GraphQLSchema } from 'graphql';
import { cutName, ErrorCode } from '../errors';

/**
 * Bounded errors (issue 11): an answer's size follows from the server's limits, never
 * from how much a client sent. A response carries at most MAX_ERRORS errors plus one that
 * says how many more were cut, and no error echoes an input value back.
 */
export const MAX_ERRORS = 20;

/**
 * Cuts a response's errors to MAX_ERRORS, then adds one error saying how many more there
 * were. That last error repeats the code of the first error it stands for (so a client's
 * handling of codes still holds), and carries `extensions.omittedErrors`, the count cut.
 * The HTTP status is the one the whole list earned.
 */
export function boundedErrorsPlugin(): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response }) {
          if (response.body.kind === 'single') {
            response.body.singleResult.errors = bounded(response.body.singleResult.errors);
          } else {
            response.body.initialResult.errors = bounded(response.body.initialResult.errors);
          }
        },
      };
    },
  };
}

function bounded(errors: readonly GraphQLFormattedError[] | undefined): readonly GraphQLFormattedError[] | undefined {
  if (!errors || errors.length <= MAX_ERRORS) return errors;
  const omitted = errors.length - MAX_ERRORS;
  const code = errors[MAX_ERRORS].extensions?.code ?? ErrorCode.INTERNAL_SERVER_ERROR;
  return [
    ...errors.slice(0, MAX_ERRORS),
    {
      message: `${omitted} more error${omitted === 1 ? ' was' : 's were'} cut from this response (at most ${MAX_ERRORS} are sent)`,
      extensions: { code, omittedErrors: omitted },
    },
  ];
}

/** The most fields any input object type of the schema has: no valid variable value has an object wider. */
export function widestInputObject(schema: GraphQLSchema): number {
  return Object.values(schema.getTypeMap()).reduce(
    (widest, type) => (isInputObjectType(type) ? Math.max(widest, Object.keys(type.getFields()).length) : widest),
    0,
  );
}

/** Scalars whose values are free-form JSON objects (graphql-scalars' JSON, JSONObject): any number of keys is valid there. */
const FREE_FORM_SCALARS = new Set(['JSON', 'JSONObject']);

/**
 * Names of input fields typed as a free-form JSON scalar (issue 12: UpdateOrganizationInput.settings).
 * Their values are data, not input objects: graphql's coercion reports no unknown field inside
 * them, so refuseWideVariables does not look inside (an unknown field of that name elsewhere is
 * reported once, as one unknown field, whatever it holds).
 */
export function freeFormInputFields(schema: GraphQLSchema): ReadonlySet<string> {
  const names = new Set<string>();
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isInputObjectType(type)) continue;
    for (const field of Object.values(type.getFields())) {
      const named = getNamedType(field.type);
      if (isScalarType(named) && FREE_FORM_SCALARS.has(named.name)) names.add(field.name);
    }
  }
  return names;
}

/**
 * Refuses, before Apollo parses anything, variables holding an object with more fields
 * than any input type of the schema has (`widest`): such an object has unknown fields,
 * and graphql's coercion would report each one with the whole value printed in it
 * (issue 11, case 3: 50,000 unknown fields gave a 27 MB answer after 1–2 s). Checked in
 * the context function so that nothing (neither execution nor cost analysis) coerces
 * them first. One walk over the parsed JSON, without recursion.
 */
export function refuseWideVariables(variables: unknown, widest: number, freeForm: ReadonlySet<string> = new Set()): void {
  if (typeof variables !== 'object' || variables === null || Array.isArray(variables)) return;
  const stack: Array<{ value: unknown; path: string; variable: string }> = Object.entries(variables).map(
    ([name, value]) => ({ value, path: name, variable: name }),
  );
  while (stack.length > 0) {
    const { value, path, variable } = stack.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    if (Array.isArray(value)) {
      value.forEach((item, index) => stack.push({ value: item, path: `${path}[${index}]`, variable }));
      continue;
    }
    const keys = Object.keys(value);
    if (keys.length > widest) {
      throw new GraphQLError(
        `Variable "$${cutName(variable)}" got an invalid value at "${cutName(path)}": an object with more fields than any input type has`,
        { extensions: { code: ErrorCode.BAD_USER_INPUT, http: { status: 400 } } },
      );
    }
    for (const key of keys) {
      if (freeForm.has(key)) continue; // JSON data (settings), not an input object
      stack.push({ value: (value as Record<string, unknown>)[key], path: `${path}.${key}`, variable });
    }
  }
}
