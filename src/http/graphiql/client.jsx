// Browser entry of the self-hosted GraphiQL page, bundled by build.mjs (esbuild) into
// dist/graphiql/assets. Plain JSX rather than TSX: the server's tsconfig has no DOM lib
// and no JSX setting, and this file is never part of the server's compilation.
import { GraphiQL } from 'graphiql';
import { useCallback, useRef, useState } from 'react';
import { createRoot } from 'react-dom/client';
import 'graphiql/style.css';

// Monaco runs its language services in web workers. We bundle the three workers GraphiQL
// needs next to this script and load them from our own origin: graphiql's own
// `setup-workers/esm.sh` would fetch them from a CDN, which must never happen here.
const assetsBase = document.currentScript.src;
globalThis.MonacoEnvironment = {
  getWorker(_workerId, label) {
    const file = label === 'json' ? 'json.worker.js' : label === 'graphql' ? 'graphql.worker.js' : 'editor.worker.js';
    return new Worker(new URL(file, assetsBase), { name: label });
  },
};

const root = document.getElementById('graphiql');
const endpoint = root.dataset.endpoint;

const PLACEHOLDER = '<paste an API key or session token>';
const defaultHeaders = JSON.stringify({ Authorization: `Bearer ${PLACEHOLDER}` }, null, 2);
const defaultQuery = `# Put a token in Headers below, then press Ctrl-Enter.
{
  viewer {
    kind
  }
}
`;

/**
 * Same-origin POST as application/json, which Apollo's CSRF prevention accepts.
 * `headers` are those of the headers pane (GraphiQL parses its JSON for us).
 */
async function fetcher(params, options) {
  const headers = options?.headers ?? {};
  if (Object.values(headers).some((value) => String(value).includes(PLACEHOLDER))) {
    // Every operation needs a credential, so say so rather than send the template and show a 401.
    return { errors: [{ message: 'Paste an API key or session token into the Authorization header in the Headers pane.' }] };
  }
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', ...headers },
    body: JSON.stringify(params),
  });
  const type = response.headers.get('content-type') ?? '';
  if (!type.includes('json')) {
    throw new Error(`${response.status} ${response.statusText}: ${await response.text()}`);
  }
  return response.json();
}

function authorizationOf(headersText) {
  try {
    const headers = JSON.parse(headersText);
    const name = Object.keys(headers).find((key) => key.toLowerCase() === 'authorization');
    return name ? String(headers[name]) : '';
  } catch {
    return undefined; // still being typed
  }
}

/**
 * GraphiQL loads the schema once, and the schema needs a credential: when the Authorization
 * header changes, hand GraphiQL a new fetcher, which makes it introspect again.
 */
function App() {
  const [currentFetcher, setFetcher] = useState(() => fetcher);
  const lastAuthorization = useRef(authorizationOf(defaultHeaders));
  const timer = useRef(undefined);
  const onEditHeaders = useCallback((text) => {
    clearTimeout(timer.current);
    timer.current = setTimeout(() => {
      const authorization = authorizationOf(text);
      if (authorization === undefined || authorization === lastAuthorization.current) return;
      lastAuthorization.current = authorization;
      setFetcher(() => (params, options) => fetcher(params, options));
    }, 400);
  }, []);
  return (
    <GraphiQL
      fetcher={currentFetcher}
      defaultHeaders={defaultHeaders}
      defaultQuery={defaultQuery}
      defaultEditorToolsVisibility="headers"
      shouldPersistHeaders={false}
      onEditHeaders={onEditHeaders}
    />
  );
}

createRoot(root).render(<App />);
