import { types } from 'pg';
import type { EntityManager } from 'typeorm';

/**
 * pg's own `timestamptz` text parser (pg-types, postgres-date): the function that decodes
 * these columns when TypeORM or `manager.query` reads them, so a lazily decoded value is
 * the same `Date` (time zone offset, millisecond precision, `infinity`) as an eager one.
 */
const parseTimestamptz = types.getTypeParser(types.builtins.TIMESTAMPTZ, 'text') as (text: string) => Date;

/** What a loader declares about an entity's columns; checked against TypeORM's metadata by test/loaders.test.ts. */
export interface RowSpec<T> {
  /** Property → column, for every column the reads return. */
  columns: { readonly [K in keyof T]?: string };
  /** The `timestamptz` properties among `columns`: read as text, decoded on first read. */
  timestamps: ReadonlyArray<keyof T & string>;
  /** Property → why the reads leave that column out (e.g. a token hash that TypeORM never selects either). */
  omitted?: { readonly [K in keyof T]?: string };
}

/**
 * How a loader reads an entity as plain rows (issue 13, candidates E and E′ of
 * bench/profile-2026-11-30.md): `manager.query` returns rows that `read` turns into
 * objects whose prototype inherits the entity's, so getters such as `Session.status`,
 * `instanceof` and type-graphql's field resolution behave as for a TypeORM entity, with
 * no TypeORM hydration. Timestamps come back as PostgreSQL's text (`::text` runs the same
 * output function as the wire, so the session's TimeZone applies as before) and are parsed
 * by pg's parser the first time a property is read: a query that selects no timestamp
 * decodes none. Writing the property stores the value as given. Entity classes stay what
 * writes use; these objects are for reads only.
 */
export class PlainRows<T extends object> {
  readonly columns: ReadonlyArray<readonly [property: string, column: string]>;
  readonly timestamps: ReadonlySet<string>;
  readonly omitted: Readonly<Record<string, string>>;
  private readonly prototype: T;
  private readonly rawKeys = new Map<string, symbol>();
  private readonly readers = new Map<string, (row: Record<string, unknown>) => T>();

  constructor(
    readonly entity: abstract new (...args: never[]) => T,
    spec: RowSpec<T>,
  ) {
    this.columns = Object.entries(spec.columns as Record<string, string>);
    this.timestamps = new Set(spec.timestamps);
    this.omitted = { ...(spec.omitted as Record<string, string> | undefined) };
    for (const property of this.timestamps) {
      if (!this.columns.some(([name]) => name === property)) throw new Error(`${entity.name}.${property}: a timestamp not among the columns`);
    }
    this.prototype = Object.create(entity.prototype) as T;
    for (const property of this.timestamps) {
      const raw = Symbol(property);
      this.rawKeys.set(property, raw);
      Object.defineProperty(this.prototype, property, {
        configurable: true,
        enumerable: true,
        get(this: Record<symbol, unknown>) {
          const value = this[raw];
          if (typeof value !== 'string') return value;
          const parsed = parseTimestamptz(value);
          this[raw] = parsed;
          return parsed;
        },
        set(this: Record<symbol, unknown>, value: unknown) {
          this[raw] = value;
        },
      });
    }
  }

  /**
   * The select list for table alias `alias`: each column under its property's name, or
   * `prefix` + that name (a joined row's columns beside the main row's).
   */
  select(alias: string, prefix = ''): string {
    return this.columns
      .map(([property, column]) => `${alias}.${column}${this.timestamps.has(property) ? '::text' : ''} AS "${prefix}${property}"`)
      .join(', ');
  }

  /** Builds the object for one row of a `select(alias, prefix)` list. */
  read(row: Record<string, unknown>, prefix = ''): T {
    let reader = this.readers.get(prefix);
    if (!reader) {
      reader = this.reader(prefix);
      this.readers.set(prefix, reader);
    }
    return reader(row);
  }

  private reader(prefix: string): (row: Record<string, unknown>) => T {
    const fields = this.columns.map(([property]) => ({
      source: prefix + property,
      target: (this.rawKeys.get(property) ?? property) as string | symbol,
    }));
    const prototype = this.prototype;
    return (row) => {
      const object = Object.create(prototype) as Record<string | symbol, unknown>;
      for (const field of fields) object[field.target] = row[field.source];
      return object as T;
    };
  }
}

/** A loader's fixed SQL, declared once at module load under a name that says what it reads. */
export interface LoaderStatement {
  readonly name: string;
  readonly text: string;
}

const statementNames = new Set<string>();

/** Declares a loader's statement, once, at module load. */
export function loaderStatement(name: string, text: string): LoaderStatement {
  if (statementNames.has(name)) throw new Error(`loader statement ${name} is declared twice`);
  statementNames.add(name);
  return Object.freeze({ name, text });
}

/**
 * Runs a loader's statement through the request's manager, and so through the read
 * snapshot (src/http/read-snapshot.ts) and the statement counter like any statement.
 * Unnamed on purpose: a named prepared statement would cut PostgreSQL's parse and plan
 * time (about 0.5 ms per member-list read here), but PgBouncer in transaction mode, the
 * usual deployment (issue 14, Debian's PgBouncer 1.18), does not keep a named statement
 * from one transaction to the next, so the gateway uses none (test/loaders.test.ts).
 */
export function runStatement<R = Record<string, unknown>>(
  manager: EntityManager,
  statement: LoaderStatement,
  parameters: unknown[],
): Promise<R[]> {
  return manager.query(statement.text, parameters);
}
