/**
 * Cross-server wake-ups (issue 15, item 2): every `loft serve` on one PostgreSQL LISTENs on the
 * installation's channel (schema.ts, CHANGE_CHANNEL_SQL) on one dedicated connection, outside the
 * pool, and hears the namespace id of every committed change, whichever server made it.
 *
 * - The trigger NOTIFYs inside the committing transaction: PostgreSQL sends the notification at
 *   commit, never for a rolled-back change, and never before the change is visible to a reader.
 * - A lost connection (PostgreSQL restarted, the backend terminated, the network cut: TCP
 *   keep-alive finds a silent peer) is reconnected with a capped exponential backoff. Notifications
 *   sent while it was down are lost (PostgreSQL keeps none for a session that is gone), so after
 *   every reconnect `reset()` is called: the caller wakes every waiting long-poll once, and each
 *   re-reads the journal.
 * - Until the first reconnect succeeds, the long-polls still end by their own timeout (at most
 *   MAX_WAIT_S): a change is late, never lost; the committing server's own polls are woken
 *   in-process anyway (http/app.ts, `changed`).
 */
import pg from 'pg';
import { systemTimers, type Timers } from '../../shared/clock.js';
import { CHANGE_CHANNEL_SQL } from './schema.js';

/** First wait before a reconnect; doubled after each failed one up to MAX_BACKOFF_MS. */
export const FIRST_BACKOFF_MS = 100;
export const MAX_BACKOFF_MS = 5_000;
/** TCP keep-alive: a peer that vanished without a FIN is noticed within about this plus retries. */
const KEEPALIVE_MS = 10_000;

export interface ChangeHandlers {
  /** A change committed in namespace `ns` (on any server). */
  changed(ns: number): void;
  /**
   * The mounts of the user whose home is `home` changed (a shared folder joined, removed, left or
   * moved in their tree, on any server): their long-polls must answer again although the home's
   * head did not move.
   */
  mountsChanged?(home: number): void;
  /** The listener reconnected: notifications may have been missed, wake everything once. */
  reset(): void;
  /** Connection lost, reconnect failed… (for the server's log). */
  log?(level: 'warn' | 'info', msg: string, fields?: Record<string, unknown>): void;
}

export interface ChangeWatch {
  /** The channel listened on (for tests and logs). */
  readonly channel: string;
  /** Successful reconnects so far (not counting the first connection). */
  readonly reconnects: number;
  /** The backend pid of the listening connection (tests terminate it to test reconnects). */
  readonly backendPid: number | null;
  close(): Promise<void>;
}

export class PostgresChangeListener implements ChangeWatch {
  readonly #config: pg.ClientConfig;
  readonly #handlers: ChangeHandlers;
  readonly #timers: Timers;
  #client: pg.Client | null = null;
  #channel = '';
  #reconnects = 0;
  #backoff = FIRST_BACKOFF_MS;
  #timer: unknown = null;
  #closed = false;
  #connecting: Promise<void> | null = null;
  #backendPid: number | null = null;

  private constructor(config: pg.ClientConfig, handlers: ChangeHandlers, timers: Timers) {
    this.#config = { ...config, keepAlive: true, keepAliveInitialDelayMillis: KEEPALIVE_MS };
    this.#handlers = handlers;
    this.#timers = timers;
  }

  /** Connects and LISTENs; rejects when the first connection fails (the server cannot start). */
  static async start(
    config: pg.ClientConfig,
    handlers: ChangeHandlers,
    timers: Timers = systemTimers,
  ): Promise<PostgresChangeListener> {
    const l = new PostgresChangeListener(config, handlers, timers);
    await l.#connect();
    return l;
  }

  get channel(): string {
    return this.#channel;
  }

  get reconnects(): number {
    return this.#reconnects;
  }

  get backendPid(): number | null {
    return this.#backendPid;
  }

  async #connect(): Promise<void> {
    const client = new pg.Client(this.#config);
    let lost = false;
    const onLost = (err?: Error) => {
      if (lost) return;
      lost = true;
      client.end().catch(() => {});
      // Before it was established, #connect's caller sees the failure (and retries, or not).
      if (this.#client !== client) return;
      this.#client = null;
      this.#backendPid = null;
      if (this.#closed) return;
      this.#handlers.log?.('warn', 'change listener: connection to PostgreSQL lost; reconnecting', {
        err: err?.message,
      });
      this.#schedule();
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    client.on('notification', (n) => {
      if (n.channel !== this.#channel) return;
      const mounts = n.payload?.startsWith('m') ?? false;
      const ns = Number(mounts ? n.payload!.slice(1) : n.payload);
      if (!Number.isSafeInteger(ns) || ns <= 0) return;
      if (mounts) this.#handlers.mountsChanged?.(ns);
      else this.#handlers.changed(ns);
    });
    try {
      await client.connect();
      const { rows } = await client.query<{ channel: string }>(CHANGE_CHANNEL_SQL);
      this.#channel = rows[0]!.channel;
      await client.query(`LISTEN ${pg.escapeIdentifier(this.#channel)}`);
      const pid = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      this.#backendPid = pid.rows[0]!.pid;
    } catch (err) {
      lost = true;
      await client.end().catch(() => {});
      throw err;
    }
    if (this.#closed) {
      await client.end().catch(() => {});
      return;
    }
    this.#client = client;
  }

  #schedule(): void {
    if (this.#closed || this.#timer !== null) return;
    const wait = this.#backoff;
    this.#backoff = Math.min(this.#backoff * 2, MAX_BACKOFF_MS);
    this.#timer = this.#timers.setTimeout(() => {
      this.#timer = null;
      this.#connecting = this.#connect().then(
        () => {
          this.#connecting = null;
          if (this.#closed) return;
          this.#backoff = FIRST_BACKOFF_MS;
          this.#reconnects++;
          this.#handlers.log?.('info', 'change listener: reconnected to PostgreSQL', {
            reconnects: this.#reconnects,
          });
          this.#handlers.reset();
        },
        (err: Error) => {
          this.#connecting = null;
          this.#handlers.log?.('warn', 'change listener: reconnect failed', {
            err: err.message,
            retryInMs: this.#backoff,
          });
          this.#schedule();
        },
      );
    }, wait);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== null) this.#timers.clearTimeout(this.#timer);
    this.#timer = null;
    await this.#connecting?.catch(() => {});
    const client = this.#client;
    this.#client = null;
    await client?.end().catch(() => {});
  }
}
