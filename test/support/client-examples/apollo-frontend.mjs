// Apollo Client 4 in a frontend app: the signed-in user's session token, and automatic
// persisted queries (the hash first; the full query once, when the server does not know
// the hash yet; from then on the hash alone, by GET for queries).
//   npm install @apollo/client graphql rxjs
//   GRAPHQL_URL=http://127.0.0.1:4000/graphql SESSION_TOKEN=sst_… node apollo-frontend.mjs
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';

// The APQ hash: SHA-256 hex of the query text, with Web Crypto (browsers and Node 20+).
async function sha256(text) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, '0')).join('');
}

const client = new ApolloClient({
  cache: new InMemoryCache(),
  link: ApolloLink.from([
    new PersistedQueryLink({ sha256, useGETForHashedQueries: true }),
    new HttpLink({
      uri: process.env.GRAPHQL_URL,
      headers: { authorization: `Bearer ${process.env.SESSION_TOKEN}` },
    }),
  ]),
});

const VIEWER = gql`
  query Viewer {
    viewer { kind user { id email } }
  }
`;
const CREATE_ORGANIZATION = gql`
  mutation CreateOrganization($input: CreateOrganizationInput!) {
    createOrganization(input: $input) { id name }
  }
`;

const { data: { viewer } } = await client.query({ query: VIEWER });
const { data: { createOrganization } } = await client.mutate({
  mutation: CREATE_ORGANIZATION,
  variables: { input: { name: 'Acme' } },
});
console.log(JSON.stringify({ viewer, createOrganization }));
