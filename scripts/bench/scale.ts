// The scale benchmark (issue 15): one namespace of 1,000,000 files, on SQLite and on PostgreSQL,
// through a real `loft serve` on loopback (HTTP, as devices see it), printed side by side; then
// the commit throughput of 1, 2 and 4 servers on PostgreSQL behind HAProxy.
// Usage: node scripts/bench/scale.mjs [--smoke] [--files 1000000] [--folder 10000] [--devices 100]
//          [--runs 3] [--engines sqlite,postgres] [--servers 1,2,4] [--writers 16] [--json]
// Needs a build (npx tsc -p .): it takes ServerProcess, the throwaway PostgreSQL cluster and
// HAProxy from test/helpers, as the tests do. --smoke: 10,000 files in folders of
// 1,000, 5 devices, one run, servers 1,2 (seconds; test/integration/scale-bench.test.ts runs it).
//
// The namespace (untimed set-up, its time printed): `loft user add bench`, one block PUT through
// the server, then FILES / FOLDER folders /d0… of FOLDER files each (f000000.txt…, one block each),
// written straight into the engine's tables in one transaction per folder (nodes, revisions — one
// `create` per file, so the journal holds every file —, content_blocks, the namespace's head), by
// the engine's own SQL (recursive CTE on SQLite, generate_series on PostgreSQL), with the
// engine's indexes and triggers (SQLite's name-search triggers included) live. Devices' tokens go
// in `devices` the same way (SHA-256, as `loft user token` stores them).
//
// What is measured, per engine, median of --runs (each run a fresh sample on the same namespace):
//   list       GET /v1/list of one folder of FOLDER files (the answer read whole)
//   commit     POST /v1/commit of a new one-block file (the block already held), sequential;
//              the median of COMMITS commits
//   pull       the pull protocol of a first mount: GET /v1/changes from the empty cursor, pages of
//              5,000 (the drive's PAGE_LIMIT) until hasMore is false, every answer parsed. The
//              drive's own first sync also writes each entry into its SQLite mirror; a real mount
//              of 1,000,000 files is not run here (minutes on this machine, and it measures the
//              mirror, not the server)
//   wake-up    DEVICES devices (own tokens, own connections) long-poll GET /v1/changes/wait at the
//              head; once the server's /metrics shows them all waiting, one more device commits;
//              latency = poll answered − commit sent, pooled over ROUNDS commits per run (p50, p99)
// Throughput: SERVERS servers on the PostgreSQL namespace database behind HAProxy
// (test/helpers/balancer.ts); WRITERS writers, each its own user and namespace (one namespace's
// commits are serialized by its row lock, whatever the number of servers) and its own block,
// commit new files back to back through the balancer for THROUGHPUT_MS, after one warm-up run of
// the fresh servers; commits per second, median of --runs.
// Blocks stay on local disk (--data) in every case: no measured operation reads or writes block
// bytes, and Ceph would only add load to a 2-core machine.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import pg from 'pg';
import { Agent, request } from 'undici';
import { startBalancer } from '../../test/helpers/balancer.js';
import { testDatabase, type TestDatabase } from '../../test/helpers/postgres.js';
import { runLoft, ServerProcess } from '../../test/helpers/server-process.js';
import { parseFlags, UsageError } from './lib/cli.js';
import { runBench } from './lib/main.js';
import { track, untrack } from './lib/proc.js';

const USAGE =
  'usage: node scripts/bench/scale.mjs [--smoke] [--files N] [--folder N] [--devices N] [--runs N] ' +
  "[--engines sqlite,postgres|''] [--servers 1,2,4|''] [--writers N] [--json]";
const ENGINE_KINDS = ['sqlite', 'postgres'] as const;
type Kind = (typeof ENGINE_KINDS)[number];
/** The drive's journal page (src/client/sync/pull-loop.ts PAGE_LIMIT). */
const PAGE = 5000;
const START_MS = 120_000;
const NOW = 1_700_000_000_000;

const log = (msg: string): void => void process.stderr.write(`scale: ${msg}\n`);
const median = (xs: readonly number[]): number =>
  xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! : NaN;
const pct = (xs: readonly number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : NaN;
};
const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const BLOCK = Buffer.from('one block every bench file holds\n');
const HASH = sha256(BLOCK);
/** A journal cursor (src/server/cursor.ts: "c" + base64url of "v1:<ns>:<seq>"). */
const cursorOf = (ns: number, seq: number): string =>
  'c' + Buffer.from(`v1:${ns}:${seq}`).toString('base64url');
const newToken = (): string => 'loft_' + randomBytes(32).toString('base64url');

/** The settings of this invocation (flags, with --smoke's defaults). */
interface Settings {
  FILES: number;
  FOLDER: number;
  FOLDERS: number;
  DEVICES: number;
  RUNS: number;
  WRITERS: number;
  /** Commits timed one after the other per run (the commit row). */
  COMMITS: number;
  /** Commits per run the long-polling devices wait for. */
  ROUNDS: number;
  /** How long the writers commit per throughput run. */
  THROUGHPUT_MS: number;
}

const agent = new Agent({ connections: 512, pipelining: 0, keepAliveTimeout: 60_000 });
async function call<T = unknown>(
  base: string,
  token: string,
  method: 'GET' | 'POST',
  p: string,
  body?: unknown,
): Promise<T> {
  const res = await request(base + p, {
    method,
    dispatcher: agent,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : Buffer.isBuffer(body) ? body : JSON.stringify(body),
    headersTimeout: 120_000,
    bodyTimeout: 120_000,
  });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`${method} ${p}: ${res.statusCode} ${text.slice(0, 200)}`);
  return (text ? JSON.parse(text) : null) as T;
}
const putBlock = (base: string, token: string, block: Buffer = BLOCK): Promise<void> =>
  request(`${base}/v1/blocks/${sha256(block)}`, {
    method: 'PUT',
    dispatcher: agent,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
    body: block,
  }).then(async (r) => {
    await r.body.text();
    if (r.statusCode >= 300) throw new Error(`PUT block: ${r.statusCode}`);
  });
const commitNew = (base: string, token: string, p: string, block: Buffer = BLOCK): Promise<unknown> =>
  call(base, token, 'POST', '/v1/commit', {
    path: p,
    parentRev: null,
    blocks: [{ hash: block === BLOCK ? HASH : sha256(block), size: block.length }],
    size: block.length,
    mtime: NOW,
    mode: 0o644,
  });
/**
 * The throughput writers' blocks, one each: every commit locks the rows of the blocks it
 * references (FOR SHARE on PostgreSQL), and one block shared by every writer would measure that
 * one row's lock traffic instead of the servers.
 */
const writerBlock = (w: number): Buffer => Buffer.from(`the block of writer ${w}\n`);

// ---- the namespace, straight into the tables -------------------------------------------------

/** The SQL of one engine: a table of 0..n-1 and a file name from a number. */
const DIALECT: Record<Kind, { numbers: (n: number) => string; fileName: string; dirName: string }> = {
  sqlite: {
    numbers: (n) =>
      `WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i < ${n - 1}) SELECT i FROM g`,
    fileName: `printf('f%06d.txt', i)`,
    dirName: `'d' || i`,
  },
  postgres: {
    numbers: (n) => `SELECT i FROM generate_series(0, ${n - 1}) AS g(i)`,
    fileName: `'f' || lpad(i::text, 6, '0') || '.txt'`,
    dirName: `'d' || i`,
  },
};

/** Statements that fill the namespace: dirs first, then one statement group per folder. */
function fillStatements(
  kind: Kind,
  S: Settings,
  {
    ns,
    root,
    head,
    base,
    deviceId,
  }: { ns: number; root: number; head: number; base: number; deviceId: number },
): string[][] {
  const { FOLDERS, FOLDER } = S;
  const d = DIALECT[kind];
  const rev = (cols: string): string =>
    `INSERT INTO revisions (ns_id, seq, node_id, op, parent_id, name, kind, deleted, size, mtime, mode, content_seq, device_id, created_at) ${cols}`;
  const out: string[][] = [];
  out.push([
    `INSERT INTO nodes (id, ns_id, parent_id, name, kind, deleted, rev, purged)
       SELECT ${base} + i, ${ns}, ${root}, ${d.dirName}, 'dir', 0, ${head + 1} + i, 0 FROM (${d.numbers(FOLDERS)}) AS n`,
    rev(
      `SELECT ${ns}, ${head + 1} + i, ${base} + i, 'mkdir', ${root}, ${d.dirName}, 'dir', 0, 0, ${NOW}, 493, NULL, ${deviceId}, ${NOW} FROM (${d.numbers(FOLDERS)}) AS n`,
    ),
  ]);
  for (let k = 0; k < FOLDERS; k++) {
    const id0 = base + FOLDERS + k * FOLDER;
    const seq0 = head + 1 + FOLDERS + k * FOLDER;
    const nums = `(${d.numbers(FOLDER)}) AS n`;
    out.push([
      `INSERT INTO nodes (id, ns_id, parent_id, name, kind, deleted, rev, purged)
         SELECT ${id0} + i, ${ns}, ${base + k}, ${d.fileName}, 'file', 0, ${seq0} + i, 0 FROM ${nums}`,
      rev(
        `SELECT ${ns}, ${seq0} + i, ${id0} + i, 'create', ${base + k}, ${d.fileName}, 'file', 0, ${BLOCK.length}, ${NOW}, 420, ${seq0} + i, ${deviceId}, ${NOW} FROM ${nums}`,
      ),
      `INSERT INTO content_blocks (ns_id, seq, idx, hash, size) SELECT ${ns}, ${seq0} + i, 0, '${HASH}', ${BLOCK.length} FROM ${nums}`,
    ]);
  }
  return out;
}

interface Engine {
  kind: Kind;
  dir: string;
  db: TestDatabase | null;
  args: string[];
  token: string;
  server: ServerProcess;
  ns: number;
  fillMs: number;
  cursor: string;
  userId: number;
  devices: string[];
}

interface Sql {
  one<T = Record<string, unknown>>(sql: string): Promise<T>;
  tx(stmts: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

/** An open engine connection: one(sql), tx(statements). */
async function openSql(kind: Kind, dir: string, db: TestDatabase | null): Promise<Sql> {
  if (kind === 'sqlite') {
    const d = new Database(path.join(dir, 'meta.db'));
    d.pragma('busy_timeout = 60000');
    return {
      one: async <T>(sql: string) => d.prepare(sql).get() as T,
      tx: async (stmts) => d.transaction(() => stmts.forEach((s) => d.exec(s)))(),
      close: async () => void d.close(),
    };
  }
  const u = new URL(db!.url);
  const c = new pg.Client({
    host: u.hostname,
    port: Number(u.port),
    user: u.username,
    database: u.pathname.slice(1),
    password: db!.env.PGPASSWORD,
  });
  await c.connect();
  return {
    one: async <T>(sql: string) => (await c.query(sql)).rows[0] as T,
    tx: async (stmts) => {
      await c.query('BEGIN');
      try {
        for (const s of stmts) await c.query(s);
        await c.query('COMMIT');
      } catch (err) {
        await c.query('ROLLBACK');
        throw err;
      }
    },
    close: () => c.end(),
  };
}

/** Devices of a user made straight in the tables: their tokens. */
async function addDevices(sql: Sql, userId: number, n: number, prefix: string): Promise<string[]> {
  const tokens = Array.from({ length: n }, newToken);
  await sql.tx(
    tokens.map(
      (t, i) =>
        `INSERT INTO devices (user_id, name, token_hash, created_at) VALUES (${userId}, '${prefix}${i}', '${sha256(t)}', ${NOW})`,
    ),
  );
  return tokens;
}

/** A ServerProcess stopped by lib/main.ts whatever happens. */
function tracked(server: ServerProcess): ServerProcess {
  const r = {
    stop: async () => {
      untrack(r);
      await server.dispose();
    },
  };
  track(r);
  return server;
}

async function prepareEngine(kind: Kind, work: string, S: Settings): Promise<Engine> {
  const dir = mkdtempSync(path.join(work, `${kind}-`));
  let db: TestDatabase | null = null;
  let args: string[] = [];
  if (kind === 'postgres') {
    db = await testDatabase();
    process.env.PGPASSWORD = db.env.PGPASSWORD;
    args = ['--meta', db.url];
  }
  const added = await runLoft(['user', 'add', 'bench', '--data', dir, ...args, '--device', 'committer']);
  if (added.code !== 0) throw new Error(`loft user add: ${added.stderr}`);
  const token = added.stdout.trim().split('\n').at(-1)!;
  const server = tracked(new ServerProcess(dir, [...args, '--gc-interval', '0']));
  await server.start(START_MS);
  await putBlock(server.url, token);
  const me = await call<{ ns: number; rootId: number }>(server.url, token, 'GET', '/v1/whoami');
  const sql = await openSql(kind, dir, db);
  try {
    const user = await sql.one<{ id: number }>(`SELECT id FROM users WHERE name = 'bench'`);
    const device = await sql.one<{ id: number }>(`SELECT id FROM devices WHERE name = 'committer'`);
    const { head } = await sql.one<{ head: number }>(
      `SELECT head_seq AS head FROM namespaces WHERE id = ${me.ns}`,
    );
    const { base } = await sql.one<{ base: number }>(`SELECT max(id) + 1 AS base FROM nodes`);
    const t0 = performance.now();
    const groups = fillStatements(kind, S, {
      ns: me.ns,
      root: me.rootId,
      head: Number(head),
      base: Number(base),
      deviceId: Number(device.id),
    });
    for (const [i, g] of groups.entries()) {
      await sql.tx(g);
      if (i % 20 === 0)
        log(`${kind}: ${Math.min(i * S.FOLDER, S.FILES).toLocaleString('en-US')} files written`);
    }
    const last = Number(head) + S.FOLDERS + S.FILES;
    await sql.tx([
      `UPDATE namespaces SET head_seq = ${last} WHERE id = ${me.ns}`,
      ...(kind === 'postgres'
        ? // autovacuum would analyze the new rows soon after such a load; the bench does it at once.
          [`SELECT setval(pg_get_serial_sequence('nodes', 'id'), (SELECT max(id) FROM nodes))`, 'ANALYZE']
        : []),
    ]);
    const fillMs = performance.now() - t0;
    const userId = Number(user.id);
    const devices = await addDevices(sql, userId, S.DEVICES + 1, 'poller');
    log(`${kind}: ${S.FILES.toLocaleString('en-US')} files in ${(fillMs / 1000).toFixed(1)} s`);
    return {
      kind,
      dir,
      db,
      args,
      token,
      server,
      ns: me.ns,
      fillMs,
      cursor: cursorOf(me.ns, last),
      userId,
      devices,
    };
  } finally {
    await sql.close();
  }
}

// ---- measurements ----------------------------------------------------------------------------

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const v = await fn();
  return [performance.now() - t0, v];
}

async function measureList(e: Engine, run: number, S: Settings): Promise<number> {
  const p = `/v1/list?path=${encodeURIComponent(`/d${((run + 1) * 7) % S.FOLDERS}`)}`;
  const [ms, body] = await timed(() => call<{ entries: unknown[] }>(e.server.url, e.token, 'GET', p));
  if (body.entries.length < S.FOLDER)
    throw new Error(`listed ${body.entries.length} entries, not ${S.FOLDER}`);
  return ms;
}

async function measureCommits(e: Engine, run: number, S: Settings): Promise<number> {
  const out: number[] = [];
  for (let i = 0; i < S.COMMITS; i++) {
    const [ms] = await timed(() => commitNew(e.server.url, e.token, `/d0/c-${run}-${i}.txt`));
    out.push(ms);
  }
  return median(out);
}

interface Page {
  entries: unknown[];
  cursor: string;
  hasMore: boolean;
}

async function measurePull(e: Engine, S: Settings): Promise<number> {
  let cursor = '';
  let entries = 0;
  const [ms] = await timed(async () => {
    for (;;) {
      const page = await call<Page>(
        e.server.url,
        e.token,
        'GET',
        `/v1/changes?cursor=${encodeURIComponent(cursor)}&limit=${PAGE}`,
      );
      entries += page.entries.length;
      cursor = page.cursor;
      if (!page.hasMore) break;
    }
  });
  if (entries < S.FILES) throw new Error(`the pull read ${entries} entries, fewer than ${S.FILES} files`);
  return ms;
}

/** The journal's head cursor now: read on from the last one known (a few entries at most). */
async function headCursor(e: Engine, token: string): Promise<string> {
  for (;;) {
    const page = await call<Page>(
      e.server.url,
      token,
      'GET',
      `/v1/changes?cursor=${encodeURIComponent(e.cursor)}&limit=${PAGE}`,
    );
    e.cursor = page.cursor;
    if (!page.hasMore) return e.cursor;
  }
}

async function longPollsOpen(base: string): Promise<number> {
  const res = await request(`${base}/metrics`, { dispatcher: agent });
  const text = await res.body.text();
  return Number(/^loft_longpolls_open (\d+)/m.exec(text)?.[1] ?? 0);
}

async function measureWakeups(e: Engine, run: number, S: Settings): Promise<number[]> {
  const base = e.server.url;
  const pollers = e.devices.slice(0, S.DEVICES);
  const committer = e.devices[S.DEVICES]!;
  const samples: number[] = [];
  for (let r = 0; r < S.ROUNDS; r++) {
    const head = await headCursor(e, committer);
    const answered = pollers.map((tok) =>
      call(base, tok, 'GET', `/v1/changes/wait?cursor=${encodeURIComponent(head)}&timeout=60`).then(() =>
        performance.now(),
      ),
    );
    const waitStart = performance.now();
    while ((await longPollsOpen(base)) < pollers.length) {
      if (performance.now() - waitStart > 60_000) throw new Error('the long-polls did not all arrive');
      await sleep(20);
    }
    const sent = performance.now();
    await commitNew(base, committer, `/d1/w-${run}-${r}.txt`);
    for (const at of await Promise.all(answered)) samples.push(at - sent);
  }
  return samples;
}

/** WRITERS users, each with its own namespace (`loft user add`, two at a time): their tokens. */
async function writerTokens(db: TestDatabase, work: string, S: Settings): Promise<string[]> {
  const dir = mkdtempSync(path.join(work, 'writers-'));
  const tokens: string[] = [];
  for (let w = 0; w < S.WRITERS; w += 2) {
    const made = await Promise.all(
      [w, w + 1]
        .filter((i) => i < S.WRITERS)
        .map(async (i) => {
          const r = await runLoft(['user', 'add', `writer${i}`, '--data', dir, '--meta', db.url]);
          if (r.code !== 0) throw new Error(`loft user add writer${i}: exit ${r.code}: ${r.stderr}`);
          return r.stdout.trim().split('\n').at(-1)!;
        }),
    );
    tokens.push(...made);
  }
  return tokens;
}

async function throughput(
  db: TestDatabase,
  servers: number,
  writers: readonly string[],
  work: string,
  S: Settings,
): Promise<number> {
  const dir = mkdtempSync(path.join(work, `tp-${servers}-`));
  const args = ['--meta', db.url, '--gc-interval', '0', '--trust-proxy', '127.0.0.1'];
  const procs = Array.from({ length: servers }, () => tracked(new ServerProcess(dir, args)));
  await Promise.all(procs.map((s) => s.start(START_MS)));
  const lb = await startBalancer(procs.map((s) => s.url));
  try {
    // Possession of the block (blocks are on each run's own disk: sent again).
    await Promise.all(writers.map((tok, w) => putBlock(lb.url, tok, writerBlock(w))));
    const rates: number[] = [];
    // Run -1 warms the fresh servers up (JIT, connection pools) and is not counted: without it
    // the rate climbed run after run and the first server set looked the fastest.
    for (let run = -1; run < S.RUNS; run++) {
      let commits = 0;
      const end = performance.now() + S.THROUGHPUT_MS;
      const t0 = performance.now();
      await Promise.all(
        writers.map(async (tok, w) => {
          for (let i = 0; performance.now() < end; i++) {
            await commitNew(lb.url, tok, `/t-${servers}-${run}-${w}-${i}.txt`, writerBlock(w));
            commits++;
          }
        }),
      );
      const rate = commits / ((performance.now() - t0) / 1000);
      if (run >= 0) rates.push(rate);
      log(
        `throughput: ${servers} server(s), ${run < 0 ? 'warm-up' : `run ${run + 1}`}: ${Math.round(rate)} commits/s`,
      );
    }
    return median(rates);
  } finally {
    await lb.stop();
    for (const s of procs) await s.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- main ------------------------------------------------------------------------------------

/** A comma-separated list flag that may be empty ('' skips that part). */
function list(value: string): string[] {
  return value.split(',').filter(Boolean);
}

runBench('scale', async ({ work }) => {
  // 0 and '-' stand for "not given": the defaults depend on --smoke.
  const o = parseFlags(
    process.argv.slice(2),
    {
      smoke: false,
      files: 0,
      folder: 0,
      devices: 0,
      runs: 0,
      engines: 'sqlite,postgres',
      servers: '-',
      writers: 0,
      json: false,
    },
    USAGE,
  );
  const smoke = o.smoke;
  const FILES = o.files || (smoke ? 10_000 : 1_000_000);
  const FOLDER = o.folder || (smoke ? 1000 : 10_000);
  if (FILES % FOLDER !== 0) throw new UsageError(`${USAGE} (--files must be a multiple of --folder)`);
  const S: Settings = {
    FILES,
    FOLDER,
    FOLDERS: FILES / FOLDER,
    DEVICES: o.devices || (smoke ? 5 : 100),
    RUNS: o.runs || (smoke ? 1 : 3),
    WRITERS: o.writers || (smoke ? 2 : 16),
    COMMITS: smoke ? 10 : 30,
    ROUNDS: smoke ? 2 : 5,
    THROUGHPUT_MS: smoke ? 1500 : 10_000,
  };
  const engineNames = list(o.engines);
  const badEngine = engineNames.find((k) => !(ENGINE_KINDS as readonly string[]).includes(k));
  if (badEngine !== undefined) throw new UsageError(`${USAGE} (unknown engine "${badEngine}")`);
  const ENGINES = engineNames as Kind[];
  const SERVERS = list(o.servers === '-' ? (smoke ? '1,2' : '1,2,4') : o.servers).map((s) => {
    if (!/^[1-9]\d*$/.test(s)) throw new UsageError(`${USAGE} (bad server count "${s}")`);
    return Number(s);
  });
  track({ stop: () => agent.close().catch(() => {}) });

  const engines: Engine[] = [];
  const results: Partial<
    Record<Kind, { fillMs: number; list: number[]; commit: number[]; pull: number[]; wake: number[] }>
  > = {};
  for (const kind of ENGINES) {
    log(`${kind}: preparing ${S.FILES.toLocaleString('en-US')} files in ${S.FOLDERS} folders`);
    const e = await prepareEngine(kind, work, S);
    engines.push(e);
    const r = {
      fillMs: e.fillMs,
      list: [] as number[],
      commit: [] as number[],
      pull: [] as number[],
      wake: [] as number[],
    };
    await measureList(e, -1, S); // warm-up (JIT, caches), not counted
    for (let run = 0; run < S.RUNS; run++) {
      r.list.push(await measureList(e, run, S));
      r.commit.push(await measureCommits(e, run, S));
      r.pull.push(await measurePull(e, S));
      r.wake.push(...(await measureWakeups(e, run, S)));
      log(
        `${kind} run ${run + 1}: list ${r.list.at(-1)!.toFixed(1)} ms, commit ${r.commit.at(-1)!.toFixed(2)} ms, ` +
          `pull ${(r.pull.at(-1)! / 1000).toFixed(2)} s, wake-up p50 ${pct(r.wake, 50).toFixed(1)} ms p99 ${pct(r.wake, 99).toFixed(1)} ms (pooled so far)`,
      );
    }
    results[kind] = r;
    await e.server.stop();
  }
  // ---- report ----
  const kinds = Object.keys(results) as Kind[];
  type R = NonNullable<(typeof results)[Kind]>;
  const row = (label: string, f: (r: R) => string): string =>
    `| ${label} | ${kinds.map((k) => f(results[k]!)).join(' | ')} |`;
  const lines = [
    `Scale: ${S.FILES.toLocaleString('en-US')} files in ${S.FOLDERS.toLocaleString('en-US')} folders of ${S.FOLDER.toLocaleString('en-US')}; ` +
      `${S.DEVICES} long-polling devices; medians of ${S.RUNS} run(s); ${os.cpus().length} CPUs, load ${os.loadavg()[0]!.toFixed(1)} at the end`,
    '',
    `| | ${kinds.join(' | ')} |`,
    `|---|${kinds.map(() => '---:').join('|')}|`,
    row('namespace written (untimed set-up)', (r) => `${(r.fillMs / 1000).toFixed(1)} s`),
    row(`list a folder of ${S.FOLDER.toLocaleString('en-US')}`, (r) => `${median(r.list).toFixed(1)} ms`),
    row('commit (one new file, sequential)', (r) => `${median(r.commit).toFixed(2)} ms`),
    row(`first mount's pull (journal, pages of ${PAGE})`, (r) => `${(median(r.pull) / 1000).toFixed(2)} s`),
    row(`wake-up of ${S.DEVICES} devices, p50`, (r) => `${pct(r.wake, 50).toFixed(1)} ms`),
    row(`wake-up of ${S.DEVICES} devices, p99`, (r) => `${pct(r.wake, 99).toFixed(1)} ms`),
  ];
  if (kinds.length) process.stdout.write(lines.join('\n') + '\n');
  lines.length = 0;
  const pgEngine = engines.find((e) => e.kind === 'postgres');
  const tp: Record<number, number> = {};
  if (SERVERS.length) {
    // On the namespace's database when there is one (a fresh one otherwise: --engines sqlite).
    const db = pgEngine?.db ?? (await testDatabase());
    process.env.PGPASSWORD = db.env.PGPASSWORD;
    const writers = await writerTokens(db, work, S);
    for (const n of SERVERS) tp[n] = await throughput(db, n, writers, work, S);
  }

  if (Object.keys(tp).length) {
    lines.push(
      ...(kinds.length ? [''] : []),
      `Commit throughput on PostgreSQL behind HAProxy (${S.WRITERS} writers, one namespace each, ${S.THROUGHPUT_MS / 1000} s a run):`,
      '',
      '| servers | commits/s |',
      '|---:|---:|',
      ...Object.entries(tp).map(([n, v]) => `| ${n} | ${Math.round(v)} |`),
    );
  }
  process.stdout.write(lines.join('\n') + '\n');
  if (o.json) process.stdout.write(JSON.stringify({ results, throughput: tp }) + '\n');
});
