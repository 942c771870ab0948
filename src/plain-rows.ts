import { types } from 'pg';
import type { DataSource, EntityManager } from 'typeorm';

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
  /** pg's query config for the named prepared statement (pg copies it before adding the values). */
  readonly prepared: { readonly name: string; readonly text: string; toString(): string };
}

const statementNames = new Set<string>();

/** Declares a loader's statement, once, at module load. */
export function loaderStatement(name: string, text: string): LoaderStatement {
  if (statementNames.has(name)) throw new Error(`loader statement ${name} is declared twice`);
  statementNames.add(name);
  return Object.freeze({ name, text, prepared: Object.freeze({ name, text, toString: () => text }) });
}

const PREPARED = new WeakMap<DataSource, boolean>();

/**
 * Whether a DataSource's loader statements are sent as named prepared statements
 * (config.ts DB_PREPARED_STATEMENTS; createDataSource in ormconfig.ts sets it).
 */
export function setPreparedStatements(dataSource: DataSource, on: boolean): void {
  PREPARED.set(dataSource, on);
}

/**
 * Runs a loader's statement through the request's manager, and so through the read
 * snapshot (src/http/read-snapshot.ts) and the statement counter like any statement.
 *
 * Named when the DataSource's setting says so (DB_PREPARED_STATEMENTS): pg sends the statement's
 * Parse once per connection and then only Bind/Execute under its name, and PostgreSQL
 * keeps the parsed statement and, after five runs, a generic plan when that costs no more
 * than a custom one. Issue 13, measured on the member-list read (BENCH_ONLY=read, Node 24,
 * the same quiet machine back to back): PostgreSQL CPU per read 2.72 → 1.77 ms at 1 client,
 * 2.33 → 1.48 ms at 8; throughput 29% → 37% and 26% → 32% of the one-statement floor.
 * Unnamed by default: behind a pooler in transaction mode that does not track prepared
 * statements (PgBouncer 1.18, issue 14) the next transaction may run on a server connection
 * that never saw the Parse, and after a migration that changes the type of a column a
 * statement returns, PostgreSQL refuses the statement on every connection that prepared it.
 *
 * The name rides in pg's query config (`statement.prepared`, one per statement), which
 * TypeORM's query runner hands to pg untouched (its type says string).
 */
export function runStatement<R = Record<string, unknown>>(
  manager: EntityManager,
  statement: LoaderStatement,
  parameters: unknown[],
): Promise<R[]> {
  const sql = PREPARED.get(manager.dataSource) ? statement.prepared : statement.text;
  return manager.query(sql as string, parameters);
}
