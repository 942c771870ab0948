import { createHash, randomBytes } from 'node:crypto';
import type { TestApp } from './app';
import { factory } from './factory';

/**
 * Two organizations sharing one member:
 *   acme:   owner (OWNER, only acme), solo (MEMBER, only acme), shared (ADMIN; acme and globex)
 *   globex: shared (OWNER), other (OWNER, only globex)
 * Globex has two OWNERs, so either of them may be deleted (issue 9's last-OWNER guard);
 * owner is acme's only OWNER, so deleteUser(owner) is refused until acme has another.
 * Each user has two active sessions (one in an organization context), plus one
 * already-terminated session.
 */
export async function twoOrganizations(app: TestApp) {
  const f = factory(app);
  const tag = randomBytes(3).toString('hex');
  const acme = await f.organization({ name: `Acme ${tag}`, domains: [`acme-${tag}.example.com`] });
  const globex = await f.organization({ name: `Globex ${tag}` });
  const owner = await f.user({ name: `Olive Owner ${tag}` });
  const solo = await f.user({ name: `Sam Solo ${tag}` });
  const shared = await f.user({ name: `Shay Shared ${tag}` });
  const other = await f.user({ name: `Otto Other ${tag}` });
  await f.member(acme.id, owner.id, 'OWNER');
  await f.member(acme.id, solo.id, 'MEMBER');
  await f.member(acme.id, shared.id, 'ADMIN');
  await f.member(globex.id, shared.id, 'OWNER');
  await f.member(globex.id, other.id, 'OWNER');
  const tokens: Record<string, string> = {};
  for (const [name, user, orgId] of [
    ['owner', owner, acme.id],
    ['solo', solo, acme.id],
    ['shared', shared, globex.id],
    ['other', other, globex.id],
  ] as const) {
    tokens[name] = (await f.session(user.id, orgId)).token;
    await f.session(user.id);
    const ended = await f.session(user.id);
    await app.sql(`UPDATE sessions SET terminated_at = now(), termination_reason = 'terminated_by_request' WHERE id = $1`, [
      ended.session.id,
    ]);
  }
  return { acme, globex, owner, solo, shared, other, tokens };
}

/** The receipt digest, recomputed from a payload's lists as the schema documents it. */
export function expectedDigest(kind: string, subjectId: string, sessions: string[], memberships: string[], users: string[]) {
  const sorted = (ids: string[]) => [...ids].sort().join(',');
  const text = `${kind}:${subjectId}\nsessions:${sorted(sessions)}\nmemberships:${sorted(memberships)}\nusers:${sorted(users)}`;
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
