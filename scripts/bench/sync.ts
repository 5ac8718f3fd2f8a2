// The propagation benchmark (issue 5): a change made on device A through its mount, how long until
// it is committed on the server and visible through device B's mount; Loft against two rclone
// mounts of one `rclone serve webdav`, and against the floor of Loft's long-poll wake-up alone.
// Usage: node scripts/bench/sync.mjs [--runs 3] [--changes 100] [--only loft,shared,rclone]
//        [--servers 1] [--shared 1]
//
// Systems (columns of the tables; --only picks them):
//   loft    two devices of one user, the changes in the home (issue 5).
//   shared  a shared folder between two users (issue 13 item 1): user `owner` makes /shared on
//           device B and shares it with user `editor` as editor (`loft share /shared --with editor
//           --role editor`); A is the editor's device, B the owner's: every change is the editor's,
//           made on the editor's device, and seen on the other user's device, through a shared
//           namespace. Same changes, same measurements as `loft`; no floor (it is the same server).
//   rclone  two rclone mounts of one `rclone serve webdav` (the table says "not installed" where
//           rclone is missing).
// --shared 1 is kept for the commands written before `shared` was a column: it adds `shared` to
// --only.
//
// --servers N (N ≥ 2, issue 15): Loft as N `loft serve --meta postgres://… --blocks s3://…` on one
// PostgreSQL database and one bucket (a throwaway cluster and a Ceph RGW, started once for the whole
// bench by test/helpers/postgres.ts and s3.ts; a fresh database and bucket per run) behind HAProxy
// (test/helpers/balancer.ts). A mounts server 1 and B server 2, so that every change crosses servers
// (wake-ups through PostgreSQL NOTIFY); the journal watcher goes through the balancer; the floor
// commits through server 1 and long-polls server 2. rclone is not run then.
//
// Every run starts each system from nothing (fresh server data / backend dir, fresh state dirs).
//   Loft:    `loft serve --data <fresh>` on 127.0.0.1 (lib/loft.ts's ServerProcess); the users and
//            device tokens by `loft user add` / `loft user token` (A's, B's and `watcher`, a third
//            device of B's user: this script's journal follower); two `loft mount --state <fresh>`
//            (lib/loft.ts). A separate user `floor` for the floor, so its commits never reach A or B.
//   rclone:  `rclone serve webdav <fresh dir>` on 127.0.0.1 and two `rclone mount :webdav,url=…:`
//            (lib/rclone.ts) with RCLONE_MOUNT_FLAGS (below, with reasons). The webdav backend has no
//            change notification: B sees a change when its directory cache (--dir-cache-time) expires.
// Set-up (untimed): A makes the directory sync-rN/ and a few files; B lists them (readdir only).
// Then CHANGES changes, one at a time, in this repeating order of ten:
//   create, overwrite (B warm), rename, delete, mkdir, create, overwrite (B cold), rename, delete, mkdir
//   create     A writes a new 0.2–4 KiB file (open, write, close)
//   overwrite  A rewrites an existing file from scratch (O_TRUNC) with new bytes of another size,
//              alternately larger and smaller
//     B warm:  right before A's change, B stats and reads the file (as a file manager or a preview
//              that just showed it would): the kernel now caches its attributes for attr_timeout
//     B cold:  B has never looked the file up (it only listed it). Loft: B's control socket is polled
//              until B's mirror has applied the change (its cursor), then B stats and reads once
//              (polling stat before the change arrives would make the kernel cache the old size);
//              rclone has no such signal: B polls stat and read as in the warm case
//   rename     A renames a file to a new name;  delete  A unlinks a file;  mkdir  A makes a directory
// The clock starts when A's system call returns (close, rename, unlink, mkdir) and, per change:
//   committed  Loft: this script's own long-poll of GET /v1/changes/wait (B's user's third device)
//              delivers the journal entry (same name, the new size / tombstone / move); rclone: the
//              webdav server's backend directory shows it (polled every POLL_MS)
//   visible    B's readdir of sync-rN/ (polled every POLL_MS): the new name appears (create, mkdir,
//              rename, with the old name gone) or the name disappears (delete); create also records
//              when reading the file on B gives its bytes; overwrite: both when B's stat shows the
//              new size and when B's open + read gives the new bytes ("visible" is the later one).
//              For rename and delete the script also notes whether B's stat of the old name still
//              succeeded once the listing had dropped it (a cached dentry).
// Each wait is capped at WAIT_CAP_MS; a change not seen by then counts as a timeout (∞ in the
// percentiles). floor: per run, CHANGES commits through the HTTP API by the `floor` user, each with
// a long-poll already waiting: commit sent → long-poll answered (what scripts/bench/server.mjs
// measures), the least a change can take to reach another device.
// The main table has the median across runs of each run's median and p99; the table per kind pools
// all runs' samples (p50, p90, p99, max). Progress → stderr. Mounts and children are stopped on
// exit, error or Ctrl-C (lib/main.ts), and /proc/mounts is checked at the end.
import { createHash, randomBytes, randomInt } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from 'undici';
import { ServerProcess } from '../../test/helpers/server-process.js';
import { KiB, MiB, parseFlags } from './lib/cli.js';
import { apiCall, type ApiOptions, type Method } from './lib/http.js';
import { LOFT_BIN, loftStatus, mountLoft, type LoftMount } from './lib/loft.js';
import { runBench } from './lib/main.js';
import { mountsBelow } from './lib/mounts.js';
import { execFileP, messageOf, settlesWithin, STOP_GRACE_MS, track, untrack } from './lib/proc.js';
import {
  mountRclone,
  NOT_INSTALLED,
  rcloneInstalled,
  rcloneVersion,
  startRcloneServer,
} from './lib/rclone.js';
import { cpuPressure, median } from './lib/report.js';

const USAGE =
  'usage: node scripts/bench/sync.mjs [--runs N] [--changes N] [--only loft,shared,rclone] [--servers N] [--shared 1]';
const POLL_MS = 1; // B's readdir / stat / read loop and the rclone backend check: a tight loop
const STATUS_POLL_MS = 2; // B's control socket (Loft, cold overwrite)
const WAIT_CAP_MS = 15_000; // per wait; above Loft's attr_timeout (10 s) so its effect is measured
const SETTLE_MS = 20; // pause between two changes
const FLOOR_POLL_SETTLE_MS = 10; // lets the floor's long-poll reach the server before the commit
const FLOOR_WARMUP = 10; // floor commits measured first and left out (a fresh server's JIT warm-up)
const SERVER_READY_MS = 60_000; // a server on PostgreSQL + S3 loads the AWS SDK; a saturated machine took > 20 s
// src/client/fuse/fuse-mount.ts ATTR_TIMEOUT_S, ENTRY_TIMEOUT_S (for the notes)
const LOFT_ATTR_TIMEOUT_S = '10 (entries 10; a remote change drops the kernel entries it touched)';
// rclone mount flags, one by one:
//   --vfs-cache-mode writes   needed to rewrite a file in place from a mount (A); files opened
//                             read-only are read from the remote, not a cache (B)
//   --vfs-write-back 0s       upload as soon as the file is closed (the default 5s would add a
//                             deliberate 5 s to every create and overwrite; Loft has no delay)
//   --dir-cache-time 1s       how long B trusts a directory listing; the webdav backend has no
//                             change notification, so this is how soon B can see a change at all
//                             (rclone's documented way to see remote changes sooner; default 5m)
//   --poll-interval 0         no change polling (webdav cannot; 0 is the documented "disable" and
//                             rclone requires it to be below --dir-cache-time)
//   --attr-timeout 1s         rclone's default, written out: the kernel caches attributes 1 s
const RCLONE_MOUNT_FLAGS = [
  '--vfs-cache-mode',
  'writes',
  '--vfs-write-back',
  '0s',
  '--dir-cache-time',
  '1s',
  '--poll-interval',
  '0',
  '--attr-timeout',
  '1s',
];
const SYSTEMS = ['loft', 'shared', 'rclone'] as const;
type System = (typeof SYSTEMS)[number];
const LABEL: Record<System, string> = { loft: 'Loft', shared: 'Loft, shared folder', rclone: 'rclone' };
type Kind = 'create' | 'overwriteWarm' | 'overwriteCold' | 'rename' | 'delete' | 'mkdir';
const CYCLE: Kind[] = [
  'create',
  'overwriteWarm',
  'rename',
  'delete',
  'mkdir',
  'create',
  'overwriteCold',
  'rename',
  'delete',
  'mkdir',
];

const sha256 = (buf: Buffer): string => createHash('sha256').update(buf).digest('hex');
const sorted = (xs: readonly number[]): number[] => [...xs].sort((a, b) => a - b);
/** Nearest-rank percentile; Infinity (a timeout) counts as the largest value. */
const pct = (xs: readonly number[], p: number): number => {
  const s = sorted(xs.filter((v) => !Number.isNaN(v)));
  return s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]! : NaN;
};
function fmtMs(v: number): string {
  if (v === Infinity) return `timeout (>${WAIT_CAP_MS / 1000} s)`;
  if (!Number.isFinite(v)) return 'n/a';
  if (v < 10) return v.toFixed(2);
  if (v < 100) return v.toFixed(1);
  return Math.round(v).toLocaleString('en-US');
}

/** Polls `check()` every `everyMs` until true; performance.now() of the first true, or Infinity after capMs. */
async function waitFor(
  check: () => Promise<boolean> | boolean,
  { capMs = WAIT_CAP_MS, everyMs = POLL_MS, from = performance.now() } = {},
): Promise<number> {
  for (;;) {
    if (await check()) return performance.now();
    if (performance.now() - from > capMs) return Infinity;
    await sleep(everyMs);
  }
}

const listOf = (dir: string): Promise<string[]> => fsp.readdir(dir).catch(() => []);
const sizeIs = (file: string, size: number): Promise<boolean> =>
  fsp.stat(file).then(
    (st) => st.size === size,
    () => false,
  );
const contentIs = (file: string, buf: Buffer): Promise<boolean> =>
  fsp.readFile(file).then(
    (b) => b.equals(buf),
    () => false,
  );
const exists = (file: string): Promise<boolean> =>
  fsp.stat(file).then(
    () => true,
    () => false,
  );

// ---- Loft ---------------------------------------------------------------------------------------------

interface Api {
  call<T = unknown>(method: Method, urlPath: string, opts?: ApiOptions): Promise<T>;
  close(): Promise<void>;
}

/** An HTTP client of the Loft API with its own keep-alive pool (lib/http.ts). */
function loftApi(url: string, token: string): Api {
  const agent = new Agent({ keepAliveTimeout: 60_000, keepAliveMaxTimeout: 600_000 });
  return {
    call: (method, urlPath, opts = {}) => apiCall(url, token, method, urlPath, { ...opts, agent }),
    close: () => agent.destroy().catch(() => {}),
  };
}

interface JournalEntry {
  name: string;
  deleted?: boolean;
  kind?: string;
  op?: string;
  size?: number;
}
interface ChangesPage {
  cursor: string;
  hasMore?: boolean;
  entries: JournalEntry[];
}
/** When the watcher received a matching entry, and which of its pages it was. */
interface Arrival {
  at: number;
  cursorIndex: number;
}
interface Expectation {
  promise: Promise<Arrival | null>;
  cancel(): void;
}
interface Waiter {
  pred: (e: JournalEntry) => boolean;
  resolve: (a: Arrival | null) => void;
}

/**
 * Follows the journal with long-polls, as a device's pull loop does. `expect(pred)` (registered
 * before the change is made) resolves with the performance.now() at which a matching entry arrived.
 */
class JournalWatcher {
  cursor = '';
  readonly #waiters = new Set<Waiter>();
  readonly #seenCursors: { cursor: string; at: number }[] = [];
  readonly #abort = new AbortController();
  #loop: Promise<void> | null = null;

  constructor(
    readonly api: Api,
    readonly log: (msg: string) => void,
  ) {}

  #query = (): string => (this.cursor ? `&cursor=${this.cursor}` : '');

  async start(): Promise<void> {
    for (let more = true; more;) {
      const page = await this.api.call<ChangesPage>('GET', `/v1/changes?limit=10000${this.#query()}`);
      this.cursor = page.cursor;
      more = !!page.hasMore;
    }
    this.#loop = (async () => {
      while (!this.#abort.signal.aborted) {
        try {
          const page = await this.api.call<ChangesPage>(
            'GET',
            `/v1/changes/wait?timeout=25&limit=10000${this.#query()}`,
            { signal: this.#abort.signal },
          );
          const at = performance.now();
          this.cursor = page.cursor;
          this.#seenCursors.push({ cursor: page.cursor, at });
          for (const w of [...this.#waiters])
            if (page.entries.some(w.pred)) {
              this.#waiters.delete(w);
              w.resolve({ at, cursorIndex: this.#seenCursors.length - 1 });
            }
        } catch (err) {
          if (this.#abort.signal.aborted) return;
          this.log(`journal watcher: ${messageOf(err)}; retrying`);
          await sleep(100);
        }
      }
    })();
  }

  expect(pred: (e: JournalEntry) => boolean): Expectation {
    let w!: Waiter;
    const promise = new Promise<Arrival | null>((resolve) => (w = { pred, resolve }));
    this.#waiters.add(w);
    return {
      promise,
      cancel: () => {
        this.#waiters.delete(w);
        w.resolve(null);
      },
    };
  }

  /** Cursors the watcher received from the page at `index` on. */
  cursorsFrom(index: number): Set<string> {
    return new Set(this.#seenCursors.slice(index).map((c) => c.cursor));
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#loop?.catch(() => {});
  }
}

interface Scale {
  servers: number;
  testDatabase: () => Promise<{ url: string }>;
  s3: { bucket(): Promise<string>; url(bucket: string, prefix?: string): string; stop(): void };
  startBalancer: (urls: readonly string[]) => Promise<{ url: string; stop(): Promise<void> }>;
}

interface LoftServers {
  /** What the watcher uses (the balancer with --servers); A and B mount urlA and urlB. */
  url: string;
  urlA: string;
  urlB: string;
  tokenA: string;
  tokenB: string;
  tokenWatch: string;
  tokenFloor: string;
  stop(): Promise<void>;
}

/**
 * One `loft serve --data <fresh>`, or with `scale` (--servers N) N servers on a fresh PostgreSQL
 * database and bucket behind a fresh HAProxy. `shared`: A is user `editor`, B and the watcher user
 * `owner` (the folder is shared in measureLoft); otherwise A, B and the watcher are devices of `bench`.
 */
async function startLoftServers(dir: string, scale: Scale | null, shared: boolean): Promise<LoftServers> {
  const dataDir = path.join(dir, 'server-data');
  fs.mkdirSync(dataDir, { recursive: true });
  let stores: string[] = [];
  if (scale) {
    const [db, bucket] = await Promise.all([scale.testDatabase(), scale.s3.bucket()]);
    stores = ['--meta', db.url, '--blocks', scale.s3.url(bucket, 'blocks')];
  }
  const procs: ServerProcess[] = [];
  let balancer: { url: string; stop(): Promise<void> } | null = null;
  const srv = {
    url: '',
    urlA: '',
    urlB: '',
    tokenA: '',
    tokenB: '',
    tokenWatch: '',
    tokenFloor: '',
    stop: async () => {
      untrack(srv);
      await balancer?.stop();
      for (const p of procs) {
        const stopped = p.stop();
        if (!(await settlesWithin(stopped, STOP_GRACE_MS))) await p.kill();
      }
    },
  };
  track(srv);
  const urls: string[] = [];
  for (let i = 0; i < (scale?.servers ?? 1); i++) {
    const p = new ServerProcess(scale ? path.join(dataDir, `s${i + 1}`) : dataDir, stores);
    procs.push(p);
    urls.push((await p.start(SERVER_READY_MS)).replace(/\/$/, ''));
  }
  balancer = scale ? await scale.startBalancer(urls) : null;
  const cli = procs[0]!;
  const bUser = shared ? 'owner' : 'bench';
  const tokenB = await cli.addUser(bUser, ['--device', 'devB', ...stores]);
  // The other tokens at once (each is a `loft user` process; the store waits on its busy timeout).
  // The floor is measured in the home column only.
  const [tokenA, tokenWatch, tokenFloor] = await Promise.all([
    shared
      ? cli.addUser('editor', ['--device', 'devA', ...stores])
      : cli.addToken(bUser, ['--device', 'devA', ...stores]),
    cli.addToken(bUser, ['--device', 'watcher', ...stores]),
    shared ? '' : cli.addUser('floor', stores),
  ]);
  return Object.assign(srv, {
    url: balancer?.url ?? urls[0]!,
    urlA: urls[0]!,
    urlB: urls[1] ?? urls[0]!,
    tokenA,
    tokenB,
    tokenWatch,
    tokenFloor,
  });
}

/** The floor: commit sent → a waiting long-poll answered, `n` times (user `floor`, nobody mounts it). */
async function measureFloor(srv: LoftServers, n: number): Promise<number[]> {
  const committer = loftApi(srv.urlA, srv.tokenFloor);
  const poller = loftApi(srv.urlB, srv.tokenFloor);
  try {
    const block = randomBytes(4 * KiB);
    const hash = sha256(block);
    await committer.call('PUT', `/v1/blocks/${hash}`, { bytes: block });
    const withCursor = (c: string): string => (c ? `&cursor=${c}` : '');
    let cursor = '';
    for (let more = true; more;) {
      const page = await poller.call<ChangesPage>('GET', `/v1/changes?limit=10000${withCursor(cursor)}`);
      cursor = page.cursor;
      more = !!page.hasMore;
    }
    const out: number[] = [];
    for (let i = 0; i < n + FLOOR_WARMUP; i++) {
      const poll = poller
        .call<ChangesPage>('GET', `/v1/changes/wait?timeout=30${withCursor(cursor)}`)
        .then((page) => ({ page, at: performance.now() }));
      poll.catch(() => {});
      await sleep(FLOOR_POLL_SETTLE_MS);
      const t0 = performance.now();
      await committer.call('POST', '/v1/commit', {
        json: {
          path: `/floor/f${i}`,
          parentRev: null,
          blocks: [{ hash, size: block.length }],
          size: block.length,
          mtime: Date.now(),
        },
      });
      const { page, at } = await poll;
      if (!page.entries.length) throw new Error('floor: long-poll answered without entries');
      if (i >= FLOOR_WARMUP) out.push(at - t0);
      cursor = page.cursor;
    }
    return out;
  } finally {
    await committer.close();
    await poller.close();
  }
}

// ---- the changes ----------------------------------------------------------------------------------------

interface Change {
  kind: Kind;
  name: string;
  from?: string;
  size?: number;
  data?: Buffer;
  grow?: boolean;
  warm?: boolean;
}
/** One change as measured: ms after A's call returned (Infinity: not within WAIT_CAP_MS). */
interface Result {
  kind: Kind;
  i: number;
  grow?: boolean;
  visible: number;
  committed: number;
  content?: number;
  stat?: number;
  applied?: number;
  staleOldName?: boolean;
}
interface CommittedWatch {
  promise: Promise<Arrival | number | null>;
  cancel(): void;
}
/** One system under test in one run: A and B's mount points and how "committed" is seen. */
interface Sys {
  name: string;
  a: string;
  b: string;
  committed(ch: Change): CommittedWatch;
  /** Loft: B's mirror has the change (control socket); performance.now() or Infinity. */
  applied?: (c: Arrival, t0: number) => Promise<number>;
  settle?: () => Promise<unknown>;
}

const newContent = (size: number): Buffer => randomBytes(size);

/** One run against one system: the set-up, then `nChanges` changes measured one by one. */
async function runChanges(
  sys: Sys,
  run: number,
  nChanges: number,
  log: (m: string) => void,
): Promise<Result[]> {
  const dirName = `sync-r${run}`;
  const dA = path.join(sys.a, dirName);
  const dB = path.join(sys.b, dirName);
  const cap = async <T>(p: Promise<T>): Promise<T | number> =>
    (await settlesWithin(p, WAIT_CAP_MS + 1000)) ? p : Infinity;

  // ---- set-up: the directory, a pool of files B has read, seeds B has only listed ----
  const counts = Object.fromEntries(CYCLE.map((k) => [k, 0])) as Record<Kind, number>;
  for (let i = 0; i < nChanges; i++) counts[CYCLE[i % CYCLE.length]!]++;
  await fsp.mkdir(dA);
  const pool: { name: string; data: Buffer }[] = []; // files B has looked up (read)
  const seeds: { name: string; data: Buffer }[] = []; // files B has only listed
  for (let i = 0; i < 3; i++) pool.push({ name: `p${i}.txt`, data: newContent(randomInt(200, 4 * KiB)) });
  for (let i = 0; i < counts.overwriteCold + 1; i++)
    seeds.push({ name: `s${i}.txt`, data: newContent(randomInt(200, 4 * KiB)) });
  for (const f of [...pool, ...seeds]) await fsp.writeFile(path.join(dA, f.name), f.data);
  const setupDone = await waitFor(
    async () => {
      const names = new Set(await listOf(dB));
      return [...pool, ...seeds].every((f) => names.has(f.name));
    },
    { capMs: 60_000, everyMs: 20 },
  );
  if (setupDone === Infinity) throw new Error(`${sys.name}: B did not list the set-up files within 60 s`);
  for (const f of pool)
    if (
      (await waitFor(() => contentIs(path.join(dB, f.name), f.data), { capMs: 30_000, everyMs: 20 })) ===
      Infinity
    )
      throw new Error(`${sys.name}: B does not read ${f.name} right`);
  await sys.settle?.();
  await sleep(200);

  const results: Result[] = [];
  const nOverwrite = { overwriteWarm: 0, overwriteCold: 0 }; // each kind alternates grow / shrink
  for (let i = 0; i < nChanges; i++) {
    const kind = CYCLE[i % CYCLE.length]!;
    const tag = String(i).padStart(4, '0');
    let grow: boolean | undefined;
    let op: () => Promise<void>; // the change A makes
    let change: Change; // what committed() and B look for
    let after: (() => void) | undefined;
    if (kind === 'create') {
      const f = { name: `c${tag}.txt`, data: newContent(randomInt(200, 4 * KiB)) };
      change = { kind, name: f.name, size: f.data.length, data: f.data };
      op = () => fsp.writeFile(path.join(dA, f.name), f.data);
      after = () => pool.push(f);
    } else if (kind === 'mkdir') {
      const name = `d${tag}`;
      change = { kind, name };
      op = () => fsp.mkdir(path.join(dA, name)).then(() => {});
    } else if (kind === 'rename') {
      const f = pool.shift()!;
      const to = `m${tag}.txt`;
      change = { kind, name: to, from: f.name, size: f.data.length, data: f.data };
      op = () => fsp.rename(path.join(dA, f.name), path.join(dA, to));
      after = () => pool.push({ name: to, data: f.data });
    } else if (kind === 'delete') {
      const f = pool.shift()!;
      change = { kind, name: f.name };
      op = () => fsp.unlink(path.join(dA, f.name));
    } else {
      const warm = kind === 'overwriteWarm';
      const f = (warm ? pool.shift() : seeds.shift())!;
      grow = nOverwrite[kind]++ % 2 === 0;
      const size = grow
        ? f.data.length + randomInt(500, 2 * KiB)
        : Math.max(16, Math.floor(f.data.length / 2) - randomInt(0, 64));
      const data = newContent(size);
      change = { kind, name: f.name, size, data, grow, warm };
      if (warm) {
        // B has just shown the file: stat + read (and check it is the current content).
        const st = await fsp.stat(path.join(dB, f.name));
        if (st.size !== f.data.length || !(await contentIs(path.join(dB, f.name), f.data)))
          throw new Error(`${sys.name}: B's ${f.name} is not the current content before the overwrite`);
      }
      op = () => fsp.writeFile(path.join(dA, f.name), data);
      after = () => pool.push({ name: f.name, data });
    }

    const committed = sys.committed(change);
    await op();
    const t0 = performance.now();
    // A time before t0 (rclone does mkdir, rename and unlink on the server inside the call) is 0.
    const since = (at: number | null): number =>
      at === Infinity || at === null ? Infinity : Math.max(0, at - t0);
    const file = path.join(dB, change.name);
    const data = change.data ?? Buffer.alloc(0);

    // B's view.
    let r: Result;
    if (kind === 'create' || kind === 'mkdir' || kind === 'rename' || kind === 'delete') {
      const listed = await waitFor(
        async () => {
          const names = await listOf(dB);
          if (kind === 'delete') return !names.includes(change.name);
          if (kind === 'rename') return names.includes(change.name) && !names.includes(change.from!);
          return names.includes(change.name);
        },
        { from: t0 },
      );
      r = { kind, i, visible: since(listed), committed: Infinity };
      if ((kind === 'create' || kind === 'rename') && listed !== Infinity)
        r.content = since(await waitFor(() => contentIs(file, data), { from: t0 }));
      if ((kind === 'rename' || kind === 'delete') && listed !== Infinity)
        r.staleOldName = await exists(path.join(dB, kind === 'rename' ? change.from! : change.name));
    } else {
      r = { kind, i, grow, visible: Infinity, committed: Infinity };
      if (!change.warm && sys.applied) {
        // Loft, B cold: wait for B's mirror (control socket), then look once.
        const c = await cap(committed.promise);
        r.applied = since(c !== null && typeof c === 'object' ? await sys.applied(c, t0) : Infinity);
      }
      const [statAt, contentAt] = await Promise.all([
        waitFor(() => sizeIs(file, change.size!), { from: t0 }),
        waitFor(() => contentIs(file, data), { from: t0 }),
      ]);
      r.stat = since(statAt);
      r.content = since(contentAt);
      r.visible = Math.max(r.stat, r.content);
    }
    const c = await cap(committed.promise);
    committed.cancel();
    r.committed = since(c !== null && typeof c === 'object' ? c.at : c);
    after?.();
    results.push(r);
    if (r.visible === Infinity || r.committed === Infinity)
      log(
        `${sys.name} run ${run}: change ${i} (${kind} ${change.name}): ${r.committed === Infinity ? 'not committed' : 'not visible on B'} within ${WAIT_CAP_MS / 1000} s`,
      );
    await sleep(SETTLE_MS);
  }
  return results;
}

interface RunOut {
  results: Result[];
  floor?: number[];
}

const settled = (m: LoftMount): Promise<number> =>
  waitFor(async () => (await loftStatus(m)).pending === 0, { capMs: 30_000, everyMs: 20 });

/** One run of Loft: home (two devices of one user) or `shared` (the editor's device → the owner's). */
async function measureLoft(
  work: string,
  run: number,
  nChanges: number,
  scale: Scale | null,
  shared: boolean,
  log: (m: string) => void,
): Promise<RunOut> {
  const name = shared ? 'shared' : 'loft';
  const dir = path.join(work, `${name}-r${run}`);
  fs.mkdirSync(dir);
  const srv = await startLoftServers(dir, scale, shared);
  let a: LoftMount | undefined;
  let b: LoftMount | undefined;
  let watcher: JournalWatcher | undefined;
  let api: Api | undefined;
  try {
    let floor: number[] | undefined;
    if (!shared) {
      log(`${name} run ${run}: floor (long-poll wake-up, ${nChanges} commits)…`);
      floor = await measureFloor(srv, nChanges);
    }
    // Both mounts at once (a stopped run stops whichever came up: lib/proc.ts tracks them).
    [a, b] = await Promise.all([
      mountLoft({ url: srv.urlA, token: srv.tokenA }, dir, 'A'),
      mountLoft({ url: srv.urlB, token: srv.tokenB }, dir, 'B'),
    ]);
    let prefix = '';
    if (shared) {
      // The owner (B) makes /shared and shares it with the editor (A), who sees it at its root.
      await fsp.mkdir(path.join(b.mnt, 'shared'));
      if ((await settled(b)) === Infinity) throw new Error('B did not commit /shared within 30 s');
      const tokenFile = path.join(dir, 'owner.token');
      fs.writeFileSync(tokenFile, `${srv.tokenB}\n`, { mode: 0o600 });
      await execFileP(
        process.execPath,
        [
          LOFT_BIN,
          'share',
          '/shared',
          '--with',
          'editor',
          '--role',
          'editor',
          '--server',
          srv.urlB,
          '--token-file',
          tokenFile,
        ],
        { env: { ...process.env, LOFT_TOKEN: '', LOFT_STATE: '', LOFT_SERVER: '' } },
      );
      if (
        (await waitFor(() => exists(path.join(a!.mnt, 'shared')), { capMs: 30_000, everyMs: 20 })) ===
        Infinity
      )
        throw new Error("the editor's device (A) does not show the shared folder within 30 s");
      prefix = 'shared';
    }
    api = loftApi(srv.url, srv.tokenWatch);
    watcher = new JournalWatcher(api, log);
    await watcher.start();
    const w = watcher;
    const matches =
      (ch: Change) =>
      (e: JournalEntry): boolean => {
        if (e.name !== ch.name) return false;
        if (ch.kind === 'delete') return !!e.deleted;
        if (e.deleted) return false;
        if (ch.kind === 'mkdir') return e.kind === 'dir';
        if (ch.kind === 'rename') return e.op === 'move';
        return e.size === ch.size; // create, overwrite: the entry with the new content
      };
    const mB = b;
    const mA = a;
    const sys: Sys = {
      name,
      a: path.join(a.mnt, prefix),
      b: path.join(b.mnt, prefix),
      committed: (ch) => w.expect(matches(ch)),
      // B's mirror has the change when its cursor is one the watcher (B's user) received with the
      // entry or later.
      applied: (c, t0) =>
        waitFor(async () => w.cursorsFrom(c.cursorIndex).has((await loftStatus(mB)).cursor), {
          everyMs: STATUS_POLL_MS,
          from: t0,
        }),
      settle: () => settled(mA),
    };
    log(`${name} run ${run}: ${nChanges} changes…`);
    return { results: await runChanges(sys, run, nChanges, log), floor };
  } finally {
    await watcher?.stop();
    await api?.close();
    for (const m of [b, a]) if (m) await m.stop().catch((err: unknown) => log(`${name}: ${messageOf(err)}`));
    await srv.stop();
    if (!mountsBelow(dir).length) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** One run of rclone: two mounts of one `rclone serve webdav`. */
async function measureRclone(
  work: string,
  run: number,
  nChanges: number,
  log: (m: string) => void,
): Promise<RunOut> {
  const dir = path.join(work, `rclone-r${run}`);
  fs.mkdirSync(dir);
  const srv = await startRcloneServer(dir);
  let a, b;
  try {
    [a, b] = await Promise.all([
      mountRclone(srv, dir, 'A', RCLONE_MOUNT_FLAGS),
      mountRclone(srv, dir, 'B', RCLONE_MOUNT_FLAGS),
    ]);
    const be = (name: string): string => path.join(srv.backend, `sync-r${run}`, name);
    const landed = (ch: Change): (() => Promise<boolean>) => {
      if (ch.kind === 'delete') return async () => !(await exists(be(ch.name)));
      if (ch.kind === 'mkdir')
        return () =>
          fsp.stat(be(ch.name)).then(
            (st) => st.isDirectory(),
            () => false,
          );
      if (ch.kind === 'rename')
        return async () => !(await exists(be(ch.from!))) && (await contentIs(be(ch.name), ch.data!));
      return () => contentIs(be(ch.name), ch.data!);
    };
    const sys: Sys = {
      name: 'rclone',
      a: a.mnt,
      b: b.mnt,
      committed: (ch) => {
        let stop = false;
        const check = landed(ch);
        const promise = (async () => {
          await sleep(0); // starts once A's call has been made
          const at = await waitFor(async () => stop || (await check()));
          return stop ? null : at;
        })();
        return { promise, cancel: () => (stop = true) };
      },
    };
    log(`rclone run ${run}: ${nChanges} changes…`);
    return { results: await runChanges(sys, run, nChanges, log) };
  } finally {
    for (const m of [b, a]) if (m) await m.stop().catch((err: unknown) => log(`rclone: ${messageOf(err)}`));
    await srv.stop();
    if (!mountsBelow(dir).length) fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---- main -----------------------------------------------------------------------------------------------

runBench('sync', async ({ work, log }) => {
  const opts = parseFlags(
    process.argv.slice(2),
    { runs: 3, changes: 100, only: [...SYSTEMS] as string[], servers: 1, shared: 0 },
    USAGE,
    { only: SYSTEMS },
  );
  const only = new Set(opts.only as System[]);
  if (opts.shared > 0) only.add('shared');
  let scale: Scale | null = null; // --servers N ≥ 2: PostgreSQL + S3 + HAProxy, Loft only
  if (opts.servers > 1 && only.delete('rclone')) log('--servers: Loft only (rclone has no such setting)');
  const want = (s: System): boolean => only.has(s);
  const unavailable: Partial<Record<System, string>> = {};
  let rcloneLine = '';
  if (want('rclone')) {
    if (await rcloneInstalled()) rcloneLine = await rcloneVersion();
    else unavailable.rclone = NOT_INSTALLED;
  }
  if (opts.servers > 1) {
    // The throwaway PostgreSQL cluster (stopped at this process's exit) and Ceph RGW the tests use,
    // and the tests' HAProxy; imported here only (they start daemons).
    const { testDatabase } = await import('../../test/helpers/postgres.js');
    const { startS3 } = await import('../../test/helpers/s3.js');
    const { startBalancer } = await import('../../test/helpers/balancer.js');
    const started = performance.now();
    const [db0, s3] = await Promise.all([testDatabase(), startS3()]);
    // Secrets through the environment only (the servers and `loft user` inherit it).
    Object.assign(process.env, db0.env, s3.env);
    scale = { servers: opts.servers, testDatabase, s3, startBalancer };
    track({ stop: async () => s3.stop() });
    log(`PostgreSQL and S3 up in ${Math.round(performance.now() - started)} ms`);
  }

  const runs: Record<System, Result[][]> = { loft: [], shared: [], rclone: [] }; // per run: change records
  const floors: number[][] = []; // per run: floor samples
  const errors: Record<System, string[]> = { loft: [], shared: [], rclone: [] };
  const pressure: number[] = [];
  for (let run = 1; run <= opts.runs; run++) {
    pressure.push(cpuPressure());
    log(`run ${run}/${opts.runs} (CPU pressure before it: ${pressure.at(-1)}%)`);
    for (const s of SYSTEMS) {
      if (!want(s) || unavailable[s]) continue;
      try {
        const out =
          s === 'rclone'
            ? await measureRclone(work, run, opts.changes, log)
            : await measureLoft(work, run, opts.changes, scale, s === 'shared', log);
        runs[s].push(out.results);
        if (out.floor) floors.push(out.floor);
        const vis = out.results.map((r) => r.visible);
        log(`run ${run}: ${s}: visible on B p50 ${fmtMs(pct(vis, 50))} ms, p99 ${fmtMs(pct(vis, 99))} ms`);
      } catch (err) {
        log(`run ${run}: ${s} failed: ${messageOf(err)}`);
        errors[s].push(`run ${run}: ${messageOf(err)}`);
      }
    }
  }

  // ---- report ----
  const shown = SYSTEMS.filter((s) => s !== 'shared' || want('shared'));
  const live = (s: System): boolean => want(s) && !unavailable[s] && runs[s].length > 0;
  const cellNa = (s: System): string =>
    !want(s) ? '—' : unavailable[s] ? unavailable[s]! : 'n/a (no run finished)';
  type Get = (r: Result) => number | undefined;
  const perRun = (s: System, get: Get, p: number): number[] =>
    runs[s].map((rs) =>
      pct(
        rs.map(get).filter((v): v is number => v !== undefined),
        p,
      ),
    );
  const medRuns = (s: System, get: Get, p: number): number => (live(s) ? median(perRun(s, get, p)) : NaN);
  const floorRun = (p: number): number => median(floors.map((f) => pct(f, p)));
  const cellRuns = (s: System, get: Get, p: number): string =>
    live(s) ? fmtMs(medRuns(s, get, p)) : cellNa(s);
  const vis: Get = (r) => r.visible;
  const com: Get = (r) => r.committed;
  const out: string[] = [];
  const print = (line = ''): number => out.push(line);

  print(
    `Loft sync (propagation) benchmark: ${opts.runs} run(s) × ${opts.changes} changes; ` +
      "ms from A's system call returning; median across runs of each run's percentile\n",
  );
  const loftish = shown.filter((s) => s !== 'rclone');
  const met = (v: number, bar: number): string =>
    Number.isFinite(v) ? (v <= bar ? 'met' : '**not met**') : 'n/a';
  const metCell = (get: Get, p: number, bar: number): string => {
    const cells = loftish.filter(want).map((s) => met(medRuns(s, get, p), bar));
    return cells.length ? cells.join(' · ') : 'n/a';
  };
  const floorCell = (p: number): string => (floors.length ? fmtMs(floorRun(p)) : '—');
  const row = (label: string, get: Get, p: number, floor: string, bar: string, metText: string): void => {
    print(
      `| ${label} | ${shown.map((s) => cellRuns(s, get, p)).join(' | ')} | ${floor} | ${bar} | ${metText} |`,
    );
  };
  const barName = want('shared') ? 'bar (issues 5, 13)' : 'bar (issue 5)';
  print(`| metric (ms) | ${shown.map((s) => LABEL[s]).join(' | ')} | floor | ${barName} | met? |`);
  print(`|---|${shown.map(() => '---:').join('|')}|---:|---|---|`);
  row(
    'close on A → visible on B, all changes, median',
    vis,
    50,
    floorCell(50),
    '≤ 100',
    metCell(vis, 50, 100),
  );
  row('close on A → visible on B, all changes, p99', vis, 99, floorCell(99), '≤ 500', metCell(vis, 99, 500));
  row(
    'close on A → visible on B, all changes, max',
    vis,
    100,
    floors.length ? fmtMs(Math.max(...floors.flat())) : '—',
    '—',
    '—',
  );
  row('close on A → committed on the server, median', com, 50, '—', '—', '—');
  row('close on A → committed on the server, p99', com, 99, '—', '—', '—');

  // Per kind, all runs pooled.
  const ROWS: [string, (r: Result) => boolean, Get][] = [
    ["create: name in B's listing", (r) => r.kind === 'create', vis],
    ['create: B reads the new bytes', (r) => r.kind === 'create', (r) => r.content],
    ["mkdir: name in B's listing", (r) => r.kind === 'mkdir', vis],
    ['rename: new name listed, old gone', (r) => r.kind === 'rename', vis],
    ['rename: B reads the file under its new name', (r) => r.kind === 'rename', (r) => r.content],
    ["delete: name gone from B's listing", (r) => r.kind === 'delete', vis],
    [
      'overwrite, B warm, grow: B reads the new bytes (reopen)',
      (r) => r.kind === 'overwriteWarm' && !!r.grow,
      (r) => r.content,
    ],
    [
      "overwrite, B warm, grow: B's stat shows the new size",
      (r) => r.kind === 'overwriteWarm' && !!r.grow,
      (r) => r.stat,
    ],
    [
      'overwrite, B warm, shrink: B reads the new bytes (reopen)',
      (r) => r.kind === 'overwriteWarm' && !r.grow,
      (r) => r.content,
    ],
    [
      "overwrite, B warm, shrink: B's stat shows the new size",
      (r) => r.kind === 'overwriteWarm' && !r.grow,
      (r) => r.stat,
    ],
    [
      "overwrite, B cold: B's mirror has it (Loft control socket)",
      (r) => r.kind === 'overwriteCold',
      (r) => r.applied,
    ],
    ['overwrite, B cold: B reads the new bytes', (r) => r.kind === 'overwriteCold', (r) => r.content],
    ["overwrite, B cold: B's stat shows the new size", (r) => r.kind === 'overwriteCold', (r) => r.stat],
    ['committed on the server, all kinds', () => true, com],
  ];
  const pooled = (s: System, filter: (r: Result) => boolean, get: Get): number[] =>
    sorted(
      runs[s]
        .flat()
        .filter(filter)
        .map(get)
        .filter((v): v is number => v !== undefined),
    );
  const q = (s: number[]): string =>
    s.length
      ? `${[50, 90, 99].map((p) => fmtMs(pct(s, p))).join(' / ')} / ${fmtMs(s.at(-1)!)} (n=${s.length})`
      : 'n/a';
  print('\nPer kind of change, all runs pooled: p50 / p90 / p99 / max (ms), n samples\n');
  print(`| change: what B sees | ${shown.map((s) => LABEL[s]).join(' | ')} |`);
  print(`|---|${shown.map(() => '---:').join('|')}|`);
  for (const [label, filter, get] of ROWS) {
    const cells = shown.map((s) => (live(s) ? q(pooled(s, filter, get)) : cellNa(s)));
    if (cells.every((c) => c === 'n/a' || c === '—')) continue;
    print(`| ${label} | ${cells.join(' | ')} |`);
  }
  if (floors.length)
    print(
      `| floor: commit sent → long-poll answered (HTTP API, no mounts) | ${q(sorted(floors.flat()))} |${shown
        .slice(1)
        .map(() => ' — |')
        .join('')}`,
    );

  const lines: string[] = [];
  for (const s of shown) {
    if (!live(s)) continue;
    lines.push(
      `all runs, ${s}: visible on B p50 ${perRun(s, vis, 50).map(fmtMs).join(', ')}; p99 ${perRun(s, vis, 99).map(fmtMs).join(', ')}; ` +
        `committed p50 ${perRun(s, com, 50).map(fmtMs).join(', ')}`,
    );
    const all = runs[s].flat();
    const timeouts = all.filter((r) => r.visible === Infinity).length;
    const stale = all.filter((r) => r.staleOldName !== undefined);
    lines.push(
      `${s}: ${timeouts} of ${all.length} changes not visible on B within ${WAIT_CAP_MS / 1000} s; ` +
        `stat of the old name on B still succeeded after the listing had dropped it: ${stale.filter((r) => r.staleOldName).length} of ${stale.length} renames/deletes`,
    );
    const ow = all.filter(
      (r) => r.kind.startsWith('overwrite') && Number.isFinite(r.content) && Number.isFinite(r.stat),
    );
    const lag = ow.filter((r) => Math.abs(r.stat! - r.content!) > 100);
    if (ow.length)
      lines.push(
        `${s}: overwrites where B's stat and B's read disagreed by > 100 ms: ${lag.length} of ${ow.length}` +
          (lag.length
            ? ` (${lag
                .map(
                  (r) =>
                    `${r.kind === 'overwriteWarm' ? 'warm' : 'cold'} ${r.grow ? 'grow' : 'shrink'}: stat ${fmtMs(r.stat!)}, read ${fmtMs(r.content!)}`,
                )
                .slice(0, 6)
                .join('; ')}${lag.length > 6 ? '; …' : ''})`
            : ''),
      );
  }
  if (floors.length)
    lines.push(
      `all runs, floor p50 ${floors.map((f) => fmtMs(pct(f, 50))).join(', ')}; p99 ${floors.map((f) => fmtMs(pct(f, 99))).join(', ')}`,
    );
  for (const s of SYSTEMS)
    if (errors[s].length) lines.push(`${s}: failed run(s), left out: ${errors[s].join('; ')}`);
  if ((live('loft') || live('shared')) && scale)
    lines.push(
      `Loft, ${scale.servers} servers: \`loft serve --meta postgres://… --blocks s3://…\` × ${scale.servers} on one PostgreSQL database (throwaway cluster, fsync off) and one Ceph RGW bucket, behind HAProxy (round robin per request); A mounts server 1, B server 2 (every change crosses servers: PostgreSQL NOTIFY wakes B's long-poll); the watcher goes through the balancer; the floor commits on server 1 and long-polls server 2`,
    );
  else if (live('loft') || live('shared'))
    lines.push(
      `Loft: two \`loft mount --state <fresh>\` (devices A and B) on \`loft serve --data <fresh>\` at 127.0.0.1; kernel attr timeout ${LOFT_ATTR_TIMEOUT_S} s (page cache per open: keep_cache or not); committed = this script's own long-poll of the journal (a third device of B's user) delivered the entry`,
    );
  if (live('shared'))
    lines.push(
      "Loft, shared folder: users `owner` (device B) and `editor` (device A); the owner makes /shared and runs `loft share /shared --with editor --role editor`; every change is the editor's, made in /shared on the editor's device, and measured on the owner's device (the journal of a shared namespace merged into each member's view)",
    );
  if (live('rclone'))
    lines.push(
      `rclone: ${rcloneLine}: two \`rclone mount :webdav,url=…: --cache-dir <fresh> ${RCLONE_MOUNT_FLAGS.join(' ')}\` of one \`rclone serve webdav <fresh dir>\` at 127.0.0.1; committed = the backend directory has it`,
    );
  lines.push(
    "committed 0.00 means the server had the change when A's call returned (rclone makes mkdir, rename and unlink on the server inside the call; Loft queues every change and commits it after)",
  );
  lines.push(
    `B is polled every ~${POLL_MS} ms (readdir, or stat + open/read/close): each poll is a FUSE request to B's process, which also applies the change`,
  );
  lines.push(
    `CPU pressure from other processes before each run (PSI cpu "some" avg10, %): ${pressure.join(', ')}; the machine is shared, so numbers vary`,
  );
  const cpus = os.cpus();
  lines.push(
    `machine: node ${process.version}, ${cpus[0]?.model.trim() ?? 'unknown cpu'}, ${cpus.length} cores, ${Math.round(os.totalmem() / MiB / 1024)} GiB RAM (${os.platform()} ${os.release()}); load ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  print(`\n${lines.map((l) => `- ${l}`).join('\n')}`);
  process.stdout.write(`${out.join('\n')}\n`);
  if (SYSTEMS.some((s) => errors[s].length)) process.exitCode = 1;
});
