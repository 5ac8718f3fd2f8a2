/**
 * The server of the deterministic simulation: the real HTTP app (`buildApp`: routes, validation,
 * auth) over the real SQLite metadata store (on an in-memory database that survives the server's
 * restarts, as its file would) and an in-memory block store, reached without sockets
 * through `app.inject`. Each drive gets a Transport that turns a request into two scheduler tasks
 * (the request reaching the server, the answer reaching the drive), with the faults of a network:
 * a device offline (refused at once), the server down, an answer lost after the server acted.
 */
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { MemoryBlockStore } from '../../../src/blockstore/memory-block-store.js';
import type { Transport, TransportResponse } from '../../../src/client/remote/remote-client.js';
import { SqliteMetadataStore } from '../../../src/metastore/sqlite/sqlite-metadata-store.js';
import { addDevice } from '../../../src/server/accounts.js';
import { buildApp } from '../../../src/server/http/app.js';
import { JournalHub } from '../../../src/server/journal-hub.js';
import { SIM_EPOCH, type SimScheduler } from './scheduler.js';

export const SIM_URL = 'http://sim.invalid';

/**
 * The stores the app serves now. The app is built once per process (Fastify compiles its schemas
 * at build: about 0.3 s, most of a schedule's cost) and serves each run's, and each restart's,
 * stores through delegates; runs in one process are sequential.
 */
interface Live {
  meta: SqliteMetadataStore;
  hub: JournalHub;
  blocks: MemoryBlockStore;
  now: () => number;
}
let live: Live | null = null;
let shared: Promise<FastifyInstance> | null = null;

function delegate<T extends object>(pick: () => T): T {
  return new Proxy({} as T, {
    get: (_target, key) => {
      const o = pick() as Record<string | symbol, unknown>;
      const v = o[key];
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(o) : v;
    },
  });
}

function sharedApp(): Promise<FastifyInstance> {
  return (shared ??= (async () => {
    const app = await buildApp({
      meta: delegate(() => live!.meta),
      blocks: delegate(() => live!.blocks),
      hub: delegate(() => live!.hub),
      clock: { now: () => live!.now() },
      // Hashed as bytes arrive: a thread-pool job's end is not the simulation's to schedule.
      blockHasher: null,
    });
    await app.ready();
    return app;
  })());
}

interface Link {
  online: boolean;
  /** The next answer this device would get is lost (the server acts, the drive sees a reset). */
  loseNext: boolean;
}

/**
 * The server's database when a run starts, made once per process: migrated, with the simulation's
 * user and its devices (`addUser`'s work, through the real store). Each run opens an in-memory copy.
 */
interface Template {
  image: Buffer;
  user: string;
  tokens: Map<string, string>;
}
let template: Template | null = null;

async function serverTemplate(user: string, devices: string[]): Promise<Template> {
  if (template && template.user === user && [...template.tokens.keys()].join() === devices.join())
    return template;
  const db = new Database(':memory:');
  const meta = new SqliteMetadataStore({ filename: ':memory:', database: db });
  const clock = { now: () => SIM_EPOCH };
  const tokens = new Map<string, string>();
  for (const [i, d] of devices.entries())
    tokens.set(d, (await addDevice(meta, clock, user, { device: d, createUser: i === 0 })).token);
  await meta.close();
  template = { image: db.serialize(), user, tokens };
  db.close();
  return template;
}

export class SimServer {
  #app: FastifyInstance | null = null;
  #meta: SqliteMetadataStore | null = null;
  #hub: JournalHub | null = null;
  /**
   * The server's database: in memory, kept across the server's restarts as its file would be (a
   * restart loses what the process held: the store, the hub, requests under way; never a committed
   * transaction). The checkers read it between steps (head of the journal, history).
   */
  #db: Database.Database | null = null;
  /** Bumped at every stop: answers of an earlier life are lost. */
  #life = 0;
  readonly blocks = new MemoryBlockStore();
  readonly #links = new Map<string, Link>();

  constructor(private readonly sched: SimScheduler) {}

  get up(): boolean {
    return this.#app !== null;
  }

  /** The journal's last sequence number (what a drive's cursor reaches when it is current). */
  headSeq(): number {
    if (!this.#app) return -1;
    return (this.#headStmt ??= this.#db!.prepare(
      'SELECT COALESCE(MAX(seq), 0) AS s FROM revisions',
    ).pluck()).get() as number;
  }

  #headStmt: Database.Statement | null = null;

  /** The metadata's database, for the checkers' reads between steps (never written by them). */
  get db(): Database.Database {
    if (!this.#app) throw new Error('server is down');
    return this.#db!;
  }

  get meta(): SqliteMetadataStore {
    if (!this.#meta) throw new Error('server is down');
    return this.#meta;
  }

  async start(): Promise<void> {
    if (this.#app) return;
    if (!this.#db) throw new Error('SimServer.start before addUser');
    this.#meta = new SqliteMetadataStore({ filename: ':memory:', database: this.#db });
    this.#hub = new JournalHub({ timers: this.sched.timers(`server${this.#life}`) });
    live = { meta: this.#meta, hub: this.#hub, blocks: this.blocks, now: () => this.sched.now() };
    this.#app = await sharedApp();
  }

  /** Stops the server as a crash would: requests under way get no answer, polls are cut. */
  async stop(): Promise<void> {
    if (!this.#app) return;
    this.#life++;
    const app = this.#app;
    const meta = this.#meta!;
    this.#hub!.close();
    this.#app = null;
    this.#meta = null;
    this.#hub = null;
    this.sched.drop(`server${this.#life - 1}`);
    void app; // shared by every run of the process: stays open
    await meta.close();
  }

  /**
   * Makes the server's database with `user` and a device (and its token) for each of `devices`,
   * as `loft user add` does; then `start()`. At virtual time zero (SIM_EPOCH), before any step.
   */
  async addUser(user: string, devices: string[]): Promise<Map<string, string>> {
    const t = await serverTemplate(user, devices);
    this.#db?.close();
    this.#db = new Database(t.image);
    return new Map(t.tokens);
  }

  /** Stops the server and frees its database (the end of a run). */
  async dispose(): Promise<void> {
    await this.stop();
    this.#db?.close();
    this.#db = null;
  }

  setOnline(device: string, online: boolean): void {
    this.#link(device).online = online;
  }

  isOnline(device: string): boolean {
    return this.#link(device).online;
  }

  loseNextAnswer(device: string): void {
    this.#link(device).loseNext = true;
  }

  #link(device: string): Link {
    let l = this.#links.get(device);
    if (!l) this.#links.set(device, (l = { online: true, loseNext: false }));
    return l;
  }

  /**
   * Requests answered directly, outside the schedule (the checkers, between steps). A checker's
   * transport answers a GET it already asked from memory: between two steps the server does not
   * change, and every device of the user reads the same tree.
   */
  direct(): Transport {
    const answers = new Map<string, Promise<Injected>>();
    return async (req) => {
      if (!this.#app) throw new Error('connect ECONNREFUSED (simulated: server down)');
      const key = req.method === 'GET' ? `${req.url} ${JSON.stringify(req.headers)}` : null;
      let res = key ? answers.get(key) : undefined;
      if (!res) {
        res = this.#app.inject(injectOptions(req));
        if (key) answers.set(key, res);
      }
      return toResponse(await res);
    };
  }

  /** The transport of one drive: every request and every answer is a scheduler task. */
  transport(device: string, owner: string): Transport {
    return (req) =>
      new Promise<TransportResponse>((resolve, reject) => {
        const url = new URL(req.url);
        const what = `${req.method} ${url.pathname}${shortQuery(url)}`;
        let settled = false;
        const finish = (fn: () => void) => {
          if (settled) return;
          settled = true;
          req.signal?.removeEventListener('abort', onAbort);
          fn();
        };
        const onAbort = () => finish(() => reject(req.signal!.reason ?? new Error('aborted')));
        if (req.signal?.aborted) return onAbort();
        req.signal?.addEventListener('abort', onAbort, { once: true });
        const link = this.#link(device);
        if (!link.online) return finish(() => reject(new Error('connect ECONNREFUSED (simulated: offline)')));
        this.sched.post(owner, `${device}→server ${what}`, () => {
          if (settled) return;
          if (!link.online || !this.#app)
            return finish(() => reject(new Error('connect ECONNREFUSED (simulated)')));
          const life = this.#life;
          this.#app.inject(injectOptions(req)).then(
            (res) => {
              this.sched.post(owner, `server→${device} ${res.statusCode} ${what}`, () => {
                if (life !== this.#life || !link.online)
                  return finish(() => reject(new Error('socket hang up (simulated)')));
                if (link.loseNext) {
                  link.loseNext = false;
                  return finish(() => reject(new Error('read ECONNRESET (simulated: answer lost)')));
                }
                finish(() => resolve(toResponse(res)));
              });
            },
            (err: unknown) =>
              this.sched.post(owner, `server→${device} ✗ ${what}`, () => finish(() => reject(err))),
          );
        });
      });
  }
}

type Injected = Awaited<ReturnType<FastifyInstance['inject']>>;

function injectOptions(req: Parameters<Transport>[0]) {
  const url = new URL(req.url);
  return {
    method: req.method,
    url: url.pathname + url.search,
    headers: req.headers,
    ...(req.body !== undefined ? { payload: req.body } : {}),
  };
}

function toResponse(res: Injected): TransportResponse {
  const data = res.rawPayload;
  return {
    statusCode: res.statusCode,
    headers: res.headers as TransportResponse['headers'],
    body: {
      // The payload's own memory when it fills it (no copy); a slice of a pooled one otherwise.
      arrayBuffer: async () =>
        (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength
          ? data.buffer
          : data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) as ArrayBuffer,
      async *[Symbol.asyncIterator]() {
        yield data;
      },
    },
  };
}

/** The query of a request, without cursors (long and opaque): enough to tell requests apart. */
function shortQuery(url: URL): string {
  const q: string[] = [];
  for (const [k, v] of url.searchParams) if (k !== 'cursor') q.push(`${k}=${v}`);
  return q.length ? '?' + q.join('&') : '';
}
