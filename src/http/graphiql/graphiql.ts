import { existsSync } from 'node:fs';
import path from 'node:path';
import express, { type Request, type Router } from 'express';

/**
 * The self-hosted GraphiQL page: GET /graphiql, GET /graphql when a browser navigates to it,
 * and the bundle that build.mjs writes (React, GraphiQL, Monaco and its workers) under
 * /graphiql/assets/. Nothing is loaded from another host, and the page's Content-Security-Policy
 * tells the browser to refuse anything that would be.
 */
export function graphiqlRouter(options: { endpoint?: string } = {}): Router {
  const endpoint = options.endpoint ?? '/graphql';
  const assetsDir = findAssetsDir();
  const router = express.Router();

  const servePage: express.RequestHandler = (_req, res) => {
    if (!existsSync(path.join(assetsDir, 'graphiql.js'))) {
      res.status(503).type('text/plain').send('GraphiQL is enabled but its bundle has not been built: run `npm run build`.\n');
      return;
    }
    res
      .set({
        'content-security-policy': CONTENT_SECURITY_POLICY,
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
      })
      .type('html')
      .send(page(endpoint));
  };

  router.use('/graphiql/assets', express.static(assetsDir, { index: false, fallthrough: false, maxAge: 0 }));
  router.get('/graphiql', servePage);
  router.get(endpoint, (req, res, next) => {
    // Both kinds of request share the URL, so caches must key on Accept.
    res.vary('Accept');
    if (prefersHtml(req)) servePage(req, res, next);
    else next();
  });
  return router;
}

/**
 * A browser navigating to the endpoint asks for text/html first; GraphQL clients ask for JSON,
 * and `*\/*` (curl, fetch's default) counts as JSON too, so only an explicit text/html preference
 * gets the page. Every other GET /graphql goes on to Apollo.
 */
function prefersHtml(req: Request): boolean {
  return req.accepts(['application/json', 'application/graphql-response+json', 'text/html']) === 'text/html';
}

const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  // Monaco and GraphiQL set inline style attributes; fonts and icons are inlined as data: URLs.
  "style-src 'self' 'unsafe-inline'",
  "font-src 'self' data:",
  "img-src 'self' data:",
  "worker-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function page(endpoint: string): string {
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>GraphiQL · identity gateway</title>
    <link rel="icon" href="data:,">
    <link rel="stylesheet" href="/graphiql/assets/graphiql.css">
    <style>html, body, #graphiql { height: 100%; margin: 0; }</style>
  </head>
  <body>
    <div id="graphiql" data-endpoint="${escapeAttribute(endpoint)}"></div>
    <script src="/graphiql/assets/graphiql.js"></script>
  </body>
</html>
`;
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}

/**
 * build.mjs writes to <project>/dist/graphiql/assets. This file runs from src/http/graphiql under
 * ts-node and jest, and from dist/src/http/graphiql once compiled: find the project by its package.json.
 */
function findAssetsDir(): string {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return path.join(dir, 'dist/graphiql/assets');
}
