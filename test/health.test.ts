import { startTestApp, type TestApp } from './support/app';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app.close());

/** The health routes live at the server's root, beside /graphql. */
function rootUrl(route: string): string {
  return new URL(route, app.url).toString();
}

describe('health routes', () => {
  it('GET /healthz answers 200 while the process is up, without credentials', async () => {
    expect(app.url).toMatch(/\/graphql$/);
    const response = await fetch(rootUrl('/healthz'));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('GET /readyz answers 200 when the database is reachable, without credentials', async () => {
    const response = await fetch(rootUrl('/readyz'));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ready' });
  });

  it('does not serve unknown routes as healthy', async () => {
    expect((await fetch(rootUrl('/healthz/extra'))).status).toBe(404);
  });
});
