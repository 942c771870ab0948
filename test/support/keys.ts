import type { GraphQLResponse, TestApp } from './app';
import { ok } from './factory';
import { persistedQuery, postJson, trustedDocument } from './protocol';

/** Partner API keys in tests (issue 4): a key is created by the admin and runs trusted documents only. */
const CREATE_API_KEY = `mutation CreateApiKey($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { secret apiKey { id } }
}`;

/** A new key's secret and ID, holding exactly `scopes`. */
export async function createApiKey(app: TestApp, scopes: string[]): Promise<{ secret: string; id: string }> {
  const created = ok(
    await app.gql<{ createApiKey: { secret: string; apiKey: { id: string } } }, unknown>(CREATE_API_KEY, {
      input: { name: `test ${scopes.join(' ')}`.slice(0, 100), scopes },
    }),
  ).createApiKey;
  return { secret: created.secret, id: created.apiKey.id };
}

/**
 * Runs a trusted operation as a partner does, by the hash of its document only (the
 * persisted-operation manifest, src/generated/persisted-documents.json), answered in
 * app.gql's shape. Throws if the operation is not trusted.
 */
export async function asKey<TData = Record<string, any>>(
  app: TestApp,
  secret: string,
  operationName: string,
  variables: Record<string, unknown> = {},
): Promise<GraphQLResponse<TData>> {
  const response = await postJson(
    app.url,
    { operationName, variables, extensions: persistedQuery(trustedDocument(operationName).hash) },
    secret,
  );
  return {
    status: response.status,
    headers: response.headers,
    data: response.body?.data as TData | null | undefined,
    errors: response.body?.errors,
  };
}
