// Apollo Client 4 in a partner's backend: an API key that may run only the trusted
// operations, sent by the hash of our manifest (persisted-documents.json: the gateway's
// src/generated/persisted-documents.json, written by `npm run codegen`).
//   npm install @apollo/client @apollo/persisted-query-lists graphql rxjs
//   GRAPHQL_URL=http://127.0.0.1:4000/graphql PARTNER_KEY=isk_… USER_ID=usr_… node apollo-partner.mjs
import { readFileSync } from 'node:fs';
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { generatePersistedQueryIdsFromManifest } from '@apollo/persisted-query-lists';
import { getOperationAST, parse } from 'graphql';

// Our manifest maps "sha256:<hex>" to a document. Apollo finds the hash by operation
// name: the document it sends is its own rewrite (with __typename added), whose hash
// would never match.
const manifest = JSON.parse(readFileSync('persisted-documents.json', 'utf8'));
const operations = Object.entries(manifest).map(([key, body]) => ({
  id: key.replace(/^sha256:/, ''),
  name: getOperationAST(parse(body)).name.value,
  body,
}));
// The trusted documents by operation name: trusted.GetUser, trusted.DeleteUser, …
const trusted = Object.fromEntries(operations.map(({ name, body }) => [name, gql(body)]));

const client = new ApolloClient({
  cache: new InMemoryCache(),
  // No cache: the trusted documents do not ask for __typename, without which Apollo's
  // cache drops the fields of fragments (…Receipt). A sync job wants fresh data anyway.
  defaultOptions: { query: { fetchPolicy: 'no-cache' }, mutate: { fetchPolicy: 'no-cache' } },
  link: ApolloLink.from([
    new PersistedQueryLink(generatePersistedQueryIdsFromManifest({ loadManifest: () => ({ operations }) })),
    new HttpLink({
      uri: process.env.GRAPHQL_URL,
      headers: { authorization: `Bearer ${process.env.PARTNER_KEY}` },
    }),
  ]),
});

const id = process.env.USER_ID;
const { data: { user } } = await client.query({ query: trusted.GetUser, variables: { id } });
const { data: { deleteUser } } = await client.mutate({ mutation: trusted.DeleteUser, variables: { id } });
console.log(JSON.stringify({ user, deleteUser }));
