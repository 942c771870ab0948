// graphql-request in the app's backend: with the admin key it creates a user and signs
// them in; the session token it gets then works for that person.
//   npm install graphql-request graphql
//   GRAPHQL_URL=http://127.0.0.1:4000/graphql ADMIN_API_KEY=adm_… EMAIL=ada@example.com node graphql-request.mjs
import { GraphQLClient, gql } from 'graphql-request';

const backend = new GraphQLClient(process.env.GRAPHQL_URL, {
  headers: { authorization: `Bearer ${process.env.ADMIN_API_KEY}` },
});

const CREATE_USER = gql`
  mutation CreateUser($input: CreateUserInput!) {
    createUser(input: $input) { id email }
  }
`;
const CREATE_SESSION = gql`
  mutation CreateSession($input: CreateSessionInput!) {
    createSession(input: $input) { token session { id expiresAt } }
  }
`;
const VIEWER = gql`
  query Viewer {
    viewer { kind user { id email } }
  }
`;

// Errors throw a ClientError: error.response.status, error.response.errors[0].extensions.code.
const { createUser } = await backend.request(CREATE_USER, { input: { email: process.env.EMAIL, name: 'Ada Lovelace' } });
const { createSession } = await backend.request(CREATE_SESSION, { input: { userId: createUser.id } });

const asUser = new GraphQLClient(process.env.GRAPHQL_URL, {
  headers: { authorization: `Bearer ${createSession.token}` },
});
const { viewer } = await asUser.request(VIEWER);
console.log(JSON.stringify({ createUser, session: createSession.session, viewer }));
