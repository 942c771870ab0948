// The GraphQL-over-HTTP audits of graphql-http against this server. They send no
// credentials, and every request here needs a bearer token: this fetch adds one.
//   npm install graphql-http
//   GRAPHQL_URL=http://127.0.0.1:4000/graphql ADMIN_API_KEY=adm_… node graphql-http-audit.mjs
import { auditServer } from 'graphql-http';

const results = await auditServer({
  url: process.env.GRAPHQL_URL,
  fetchFn: (input, init = {}) => {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${process.env.ADMIN_API_KEY}`);
    return fetch(input, { ...init, headers });
  },
});
console.log(`${results.length} audits`);
for (const result of results) {
  if (result.status !== 'ok') console.log(result.id, result.status, result.name);
}
