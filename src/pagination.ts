import { IsDefined, Max, Min } from 'class-validator';
import { ArgsType, Field, Int, ObjectType, type ClassType } from 'type-graphql';
import type { SelectQueryBuilder } from 'typeorm';
import { groupBy } from './collections';
import { AppError } from './errors';
import { isId, type IdKind } from './ids';

/**
 * Keyset pagination over time-sortable IDs. Cursors are opaque to clients (base64url
 * of a versioned ID); a page is fetched with `id > cursor ORDER BY id LIMIT first + 1`,
 * the extra row telling whether there is a next page.
 */
export const MAX_PAGE_SIZE = 100;

@ArgsType()
export class PageArgs {
  /**
   * Nullable with a default, as the contract spells it. An explicit null is refused by
   * @IsDefined: type-graphql validates with skipMissingProperties, which skips @Min and
   * @Max for null, and a null `first` would otherwise yield an empty page.
   */
  @Field(() => Int, { nullable: true, defaultValue: 20 })
  @IsDefined({ message: 'first must not be null' })
  @Min(1)
  @Max(MAX_PAGE_SIZE)
  first: number = 20;

  @Field(() => String, { nullable: true })
  after?: string | null;
}

@ObjectType()
export class PageInfo {
  @Field()
  hasNextPage: boolean;

  @Field(() => String, { nullable: true })
  endCursor: string | null;
}

export interface Page<T> {
  nodes: T[];
  pageInfo: PageInfo;
  /** Counted only when a client selects it: define it as a getter that starts the count. */
  readonly totalCount: Promise<number>;
}

/** Declares a `XConnection { nodes, pageInfo, totalCount }` type for a node type. */
export function Connection<T extends object>(node: ClassType<T>) {
  @ObjectType()
  abstract class ConnectionClass {
    @Field(() => [node])
    nodes: T[];

    @Field(() => PageInfo)
    pageInfo: PageInfo;

    @Field(() => Int, { simple: false })
    totalCount: number;
  }
  return ConnectionClass;
}

const CURSOR_VERSION = 'c1:';

export function encodeCursor(id: string): string {
  return Buffer.from(CURSOR_VERSION + id, 'utf8').toString('base64url');
}

/** Returns the ID a cursor stands for, or fails with BAD_USER_INPUT naming `after`. */
export function decodeCursor(kind: IdKind, cursor: string | null | undefined): string | null {
  if (cursor === null || cursor === undefined) return null;
  const decoded = /^[A-Za-z0-9_-]{1,100}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const id = decoded.startsWith(CURSOR_VERSION) ? decoded.slice(CURSOR_VERSION.length) : '';
  if (!isId(kind, id)) throw AppError.badInput('after', 'after is not a cursor this API issued');
  return id;
}

/**
 * One page of `query` in ID order, after the cursor. The total counts the whole query
 * (cursor aside), and only when a client selects it.
 */
export async function keysetPage<T extends { id: string }>(
  query: SelectQueryBuilder<T>,
  kind: IdKind,
  args: PageArgs,
): Promise<Page<T>> {
  const afterId = decodeCursor(kind, args.after);
  const counter = query.clone();
  if (afterId) query.andWhere(`${query.alias}.id > :afterId`, { afterId });
  const rows = await query.orderBy(`${query.alias}.id`, 'ASC').limit(args.first + 1).getMany();
  return {
    ...toPage(rows, args.first),
    get totalCount() {
      return counter.getCount();
    },
  };
}

/** A DataLoader key for one organization's page of a child list (memberships, invitations). */
export interface OrganizationPageKey {
  organizationId: string;
  first: number;
  afterId: string | null;
}

/**
 * The batch function of a page-per-organization DataLoader. Keys that share their
 * arguments (all but the organization: in practice one field, one set of arguments) are
 * fetched with one statement, `fetch(organizationIds, sample)`, which returns each
 * organization's first `first + 1` rows in ID order after the cursor; results come back
 * in key order, one per key. `argsKey` names everything in a key but the organization.
 */
export function pagesPerOrganization<K extends OrganizationPageKey, T extends { id: string; organizationId: string }>(
  argsKey: (key: K) => string,
  fetch: (organizationIds: string[], sample: K) => Promise<T[]>,
) {
  return async (keys: readonly K[]): Promise<Array<Omit<Page<T>, 'totalCount'>>> => {
    const pages = new Map<string, Omit<Page<T>, 'totalCount'>>();
    const keyOf = (key: K) => `${key.organizationId}|${argsKey(key)}`;
    for (const group of groupBy(keys, argsKey).values()) {
      const rows = groupBy(await fetch(group.map((key) => key.organizationId), group[0]), (row) => row.organizationId);
      for (const key of group) pages.set(keyOf(key), toPage(rows.get(key.organizationId) ?? [], key.first));
    }
    return keys.map((key) => pages.get(keyOf(key))!);
  };
}

/** The page of a list the caller may not see: no nodes, no next page, a total of 0. */
export function emptyPage<T>(): Page<T> {
  return { nodes: [], pageInfo: { hasNextPage: false, endCursor: null }, totalCount: Promise.resolve(0) };
}

/** Shapes `first + 1` rows ordered by ID into a page's nodes and pageInfo. */
export function toPage<T extends { id: string }>(rows: T[], first: number): Omit<Page<T>, 'totalCount'> {
  const nodes = rows.slice(0, first);
  const last = nodes[nodes.length - 1];
  return { nodes, pageInfo: { hasNextPage: rows.length > first, endCursor: last ? encodeCursor(last.id) : null } };
}
