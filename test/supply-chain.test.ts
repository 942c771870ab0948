import fs from 'node:fs';
import path from 'node:path';

/** Earlier 5.x releases of @apollo/server have published advisories (issue 5). */
it('runs @apollo/server 5.5 or later', () => {
  const manifest = JSON.parse(
    fs.readFileSync(path.join(__dirname, '..', 'node_modules', '@apollo', 'server', 'package.json'), 'utf8'),
  ) as { version: string };
  const [major, minor] = manifest.version.split('.').map(Number);
  expect(major).toBe(5);
  expect(minor).toBeGreaterThanOrEqual(5);
});
