// Bundles the GraphiQL page (client.jsx, React, GraphiQL, Monaco and its CSS) and the three
// Monaco web workers into dist/graphiql/assets, so the server can serve everything itself.
// Run by `npm run build` (and so by `npm start`) and by test/graphiql.test.ts.
// Plain ESM rather than TypeScript: it runs before and apart from the server's tsc build.
import { build } from 'esbuild';
import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const assetsDir = path.join(root, 'dist/graphiql/assets');
// esbuild writes into a scratch folder first; its files are then renamed into place one by one
// (atomic on POSIX), so a server reading the assets while a build runs never sees a missing or
// half-written file.
await mkdir(path.dirname(assetsDir), { recursive: true });
const outdir = await mkdtemp(path.join(path.dirname(assetsDir), '.build-'));

const common = {
  absWorkingDir: root,
  bundle: true,
  minify: true,
  format: 'iife',
  target: 'es2022',
  platform: 'browser',
  outdir,
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
  legalComments: 'none',
};

const started = Date.now();
try {
  await Promise.all([
    build({
      ...common,
      entryPoints: { graphiql: path.join(here, 'client.jsx') },
      jsx: 'automatic',
      // Monaco's icon font arrives through its CSS; it is written beside the bundle, never fetched.
      loader: { '.ttf': 'file', '.woff': 'file', '.woff2': 'file' },
    }),
    build({
      ...common,
      entryPoints: {
        'editor.worker': 'monaco-editor/esm/vs/editor/editor.worker.js',
        'json.worker': 'monaco-editor/esm/vs/language/json/json.worker.js',
        'graphql.worker': 'monaco-graphql/esm/graphql.worker.js',
      },
    }),
  ]);
  await mkdir(assetsDir, { recursive: true });
  for (const file of await readdir(outdir)) await rename(path.join(outdir, file), path.join(assetsDir, file));
} finally {
  await rm(outdir, { recursive: true, force: true });
}
console.log(`GraphiQL bundle written to ${path.relative(root, assetsDir)} in ${Date.now() - started} ms`);
