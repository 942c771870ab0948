// urql with its default exchanges: queries by GET, mutations by POST, a session token.
//   npm install @urql/core graphql
//   GRAPHQL_URL=http://127.0.0.1:4000/graphql SESSION_TOKEN=sst_… node urql.mjs
import { Client, cacheExchange, fetchExchange, gql } from '@urql/core';

const client = new Client({
  url: process.env.GRAPHQL_URL,
  exchanges: [cacheExchange, fetchExchange],
  fetchOptions: () => ({ headers: { authorization: `Bearer ${process.env.SESSION_TOKEN}` } }),
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

const viewer = await client.query(VIEWER, {}).toPromise();
if (viewer.error) throw viewer.error; // a CombinedError: .graphQLErrors[0].extensions.code, .response.status
const created = await client.mutation(CREATE_ORGANIZATION, { input: { name: 'Acme' } }).toPromise();
if (created.error) throw created.error;
console.log(JSON.stringify({ viewer: viewer.data.viewer, createOrganization: created.data.createOrganization }));
