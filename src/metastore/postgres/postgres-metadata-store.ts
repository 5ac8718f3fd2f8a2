/**
 * The scale-out MetadataStore on PostgreSQL, through node-postgres (`pg`) and its pool.
 *
 * The domain operations are the engine's (src/metastore/engine), the same code the SQLite store
 * runs; this file opens connections and transactions:
 * - write: READ COMMITTED on one pooled connection; the operations lock what they depend on
 *   (engine/meta-tx.ts: the namespace row before any tree change, so the per-namespace sequence
 *   and every check against the current tree are serialized; blocks by hash; one collector).
 *   A deadlock or serialization failure (which PostgreSQL resolves by aborting one transaction)
 *   and a unique violation from a race of two creators (two `loft user add` of one name) run the
 *   whole operation again, from its first statement, up to WRITE_ATTEMPTS times.
 * - read: REPEATABLE READ READ ONLY, so that the statements of one read see one snapshot.
 * - single: one statement on the pool.
 *
 * Connection: `postgres://USER@HOST:PORT/DB`; the password comes from PGPASSWORD (or the other
 * libpq variables node-postgres reads: PGHOST, PGPORT, PGUSER, PGDATABASE), never from the URL.
 */
import pg from 'pg';
import { LoftError } from '../../shared/errors.js';
import { EngineMetadataStore, type Operation } from '../engine/engine-metadata-store.js';
import { runAsync } from '../engine/step.js';
import { PostgresMetaTx } from './postgres-meta-tx.js';
import { migrate } from './schema.js';
import { PostgresChangeListener, type ChangeHandlers, type ChangeWatch } from './postgres-change-listener.js';
import type { Timers } from '../../shared/clock.js';
import type { ThrottleState } from '../../server/throttle-state.js';
import { PostgresThrottleState } from './postgres-throttle-state.js';

/** Tries of one write before its error is the caller's (each retry follows a lost race). */
const WRITE_ATTEMPTS = 8;
/** SQLSTATEs after which a write is run again: serialization_failure, deadlock_detected, unique_violation. */
const RETRYABLE = new Set(['40001', '40P01', '23505']);
/** Connections per server process: requests beyond wait in the pool's queue. */
const DEFAULT_POOL_SIZE = 10;

const INT8_OID = 20;

/** BIGINT columns as JS numbers (ids, times and sizes stay below 2^53). */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export interface PostgresMetadataStoreOptions {
  /** postgres://USER@HOST:PORT/DB (no password: PGPASSWORD). */
  url: string;
  /** The schema Loft's tables live in (created if missing; default: the user's search_path). */
  schema?: string;
  poolSize?: number;
}

const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,62}$/;

/** Parses and checks a --meta URL; a password in it is refused (it would show in `ps`). */
export function parsePostgresUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new LoftError('BAD_REQUEST', `not a URL: ${url.replace(/:[^:@/]*@/, ':***@')}`);
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:')
    throw new LoftError('BAD_REQUEST', `--meta must be postgres://USER@HOST:PORT/DB, not ${u.protocol}//…`);
  if (u.password)
    throw new LoftError(
      'BAD_REQUEST',
      'no password in the --meta URL (anyone can read it in ps): set PGPASSWORD',
    );
  if (!u.pathname || u.pathname === '/')
    throw new LoftError('BAD_REQUEST', '--meta needs a database: postgres://USER@HOST:PORT/DB');
  if (u.search)
    throw new LoftError(
      'BAD_REQUEST',
      `--meta takes no options (${u.search}): set them in the environment (PGSSLMODE, PGCONNECT_TIMEOUT, …)`,
    );
  return u;
}

export class PostgresMetadataStore extends EngineMetadataStore {
  readonly #pool: pg.Pool;
  /** How the pool connects (the change listener opens one more connection the same way). */
  readonly #config: pg.ClientConfig;

  private constructor(pool: pg.Pool, config: pg.ClientConfig) {
    super();
    this.#pool = pool;
    this.#config = config;
  }

  /** Connects and migrates the schema (forward only; a newer schema is refused). */
  static async open(options: PostgresMetadataStoreOptions): Promise<PostgresMetadataStore> {
    const u = parsePostgresUrl(options.url);
    const schema = options.schema;
    if (schema !== undefined && !SCHEMA_RE.test(schema))
      throw new LoftError('BAD_REQUEST', `bad schema name ${schema}`);
    const config: pg.ClientConfig = {
      host: decodeURIComponent(u.hostname).replace(/^\[(.*)\]$/, '$1') || undefined,
      port: u.port ? Number(u.port) : undefined,
      user: decodeURIComponent(u.username) || undefined,
      database: decodeURIComponent(u.pathname.slice(1)),
      types,
      application_name: 'loft',
      ...(schema ? { options: `-c search_path=${schema}` } : {}),
    };
    const pool = new pg.Pool({ ...config, max: options.poolSize ?? DEFAULT_POOL_SIZE });
    // An idle connection that breaks (server restart) is dropped by the pool; without a listener
    // its error would crash the process.
    pool.on('error', () => {});
    try {
      const client = await pool.connect();
      try {
        await migrate(client, schema);
      } finally {
        client.release();
      }
    } catch (err) {
      await pool.end();
      if (err instanceof LoftError) throw err;
      const e = err as { message?: string; code?: string; errors?: { message?: string }[] };
      const why = e.message || e.errors?.[0]?.message || e.code || String(err);
      throw new LoftError('UNAVAILABLE', `metadata store ${u.host}${u.pathname}: ${why.split('\n')[0]}`, {
        cause: err,
      });
    }
    return new PostgresMetadataStore(pool, config);
  }

  /** Failure throttles every server on this database shares (src/server/throttle-state.ts). */
  sharedThrottles(): ThrottleState {
    return new PostgresThrottleState(this.#pool);
  }

  /** Committed changes of every server on this database (ChangeSource; the caller closes it). */
  watchChanges(handlers: ChangeHandlers, timers?: Timers): Promise<ChangeWatch> {
    return PostgresChangeListener.start(this.#config, handlers, timers);
  }

  protected async write<T>(op: Operation<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#transaction('BEGIN', op);
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (attempt >= WRITE_ATTEMPTS || typeof code !== 'string' || !RETRYABLE.has(code)) throw err;
      }
    }
  }

  protected read<T>(op: Operation<T>): Promise<T> {
    return this.#transaction('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', op);
  }

  protected single<T>(op: Operation<T>): Promise<T> {
    return runAsync(op(new PostgresMetaTx(this.#pool)));
  }

  async #transaction<T>(begin: string, op: Operation<T>): Promise<T> {
    const client = await this.#pool.connect();
    let broken = false;
    try {
      await client.query(begin);
      try {
        const out = await runAsync(op(new PostgresMetaTx(client)));
        await client.query('COMMIT');
        return out;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {
          broken = true;
        });
        throw err;
      }
    } finally {
      client.release(broken);
    }
  }

  #closed = false;

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }
}
