#!/usr/bin/env node
// The scale benchmark (issue 15): one namespace of 1,000,000 files, on SQLite and on PostgreSQL,
// through a real `loft serve` on loopback (HTTP, as devices see it), printed side by side; then
// the commit throughput of 1, 2 and 4 servers on PostgreSQL behind HAProxy.
// Usage: node scripts/bench/scale.mjs [--smoke] [--files 1000000] [--folder 10000] [--devices 100]
//          [--runs 3] [--engines sqlite,postgres] [--servers 1,2,4] [--writers 16] [--json]
// Needs a build (npx tsc -p tsconfig.json): it takes ServerProcess, the throwaway PostgreSQL
// cluster and HAProxy from dist/test/helpers, as the tests do. --smoke: 10,000 files in folders of
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
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { Agent, request } from 'undici';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const HELPERS = path.join(ROOT, 'dist', 'test', 'helpers');
const { ServerProcess, runLoft } = await import(path.join(HELPERS, 'server-process.js'));
const { testDatabase } = await import(path.join(HELPERS, 'postgres.js'));
const { startBalancer } = await import(path.join(HELPERS, 'balancer.js'));

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(`--${name}`);
const arg = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const smoke = flag('smoke');
const FILES = Number(arg('files', smoke ? '10000' : '1000000'));
const FOLDER = Number(arg('folder', smoke ? '1000' : '10000'));
const DEVICES = Number(arg('devices', smoke ? '5' : '100'));
const RUNS = Number(arg('runs', smoke ? '1' : '3'));
const ENGINES = arg('engines', 'sqlite,postgres').split(',').filter(Boolean);
const SERVERS = arg('servers', smoke ? '1,2' : '1,2,4')
  .split(',')
  .filter(Boolean)
  .map(Number);
const WRITERS = Number(arg('writers', smoke ? '2' : '16'));
/** Commits timed one after the other per run (the commit row). */
const COMMITS = smoke ? 10 : 30;
/** Commits per run the long-polling devices wait for. */
const ROUNDS = smoke ? 2 : 5;
/** How long the writers commit per throughput run. */
const THROUGHPUT_MS = smoke ? 1500 : 10_000;
/** The drive's journal page (src/client/sync/pull-loop.ts PAGE_LIMIT). */
const PAGE = 5000;
const START_MS = 120_000;
const NOW = 1_700_000_000_000;
if (!(FILES > 0 && FOLDER > 0 && FILES % FOLDER === 0))
  throw new Error('--files must be a multiple of --folder');
const FOLDERS = FILES / FOLDER;

const log = (msg) => process.stderr.write(`scale: ${msg}\n`);
const median = (xs) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] : NaN);
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : NaN;
};
const sha256 = (b) => createHash('sha256').update(b).digest('hex');
const BLOCK = Buffer.from('one block every bench file holds\n');
const HASH = sha256(BLOCK);
/** A journal cursor (src/server/cursor.ts: "c" + base64url of "v1:<ns>:<seq>"). */
const cursorOf = (ns, seq) => 'c' + Buffer.from(`v1:${ns}:${seq}`).toString('base64url');
const newToken = () => 'loft_' + randomBytes(32).toString('base64url');

const agent = new Agent({ connections: 512, pipelining: 0, keepAliveTimeout: 60_000 });
async function call(base, token, method, p, body) {
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
  return text ? JSON.parse(text) : null;
}
const putBlock = (base, token, block = BLOCK) =>
  request(`${base}/v1/blocks/${sha256(block)}`, {
    method: 'PUT',
    dispatcher: agent,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
    body: block,
  }).then(async (r) => {
    await r.body.text();
    if (r.statusCode >= 300) throw new Error(`PUT block: ${r.statusCode}`);
  });
const commitNew = (base, token, p, block = BLOCK) =>
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
const writerBlock = (w) => Buffer.from(`the block of writer ${w}\n`);

// ---- the namespace, straight into the tables -------------------------------------------------

/** The SQL of one engine: a table of 0..n-1 and a file name from a number. */
const DIALECT = {
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
function fillStatements(kind, { ns, root, head, base, deviceId }) {
  const d = DIALECT[kind];
  const rev = (cols) =>
    `INSERT INTO revisions (ns_id, seq, node_id, op, parent_id, name, kind, deleted, size, mtime, mode, content_seq, device_id, created_at) ${cols}`;
  const out = [];
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

/** An open engine connection: run(sql), one(sql), tx(statements). */
async function openSql(engine) {
  if (engine.kind === 'sqlite') {
    const db = new Database(path.join(engine.dir, 'meta.db'));
    db.pragma('busy_timeout = 60000');
    return {
      one: async (sql) => db.prepare(sql).get(),
      tx: async (stmts) => db.transaction(() => stmts.forEach((s) => db.exec(s)))(),
      close: async () => db.close(),
    };
  }
  const u = new URL(engine.db.url);
  const c = new pg.Client({
    host: u.hostname,
    port: Number(u.port),
    user: u.username,
    database: u.pathname.slice(1),
    password: engine.db.env.PGPASSWORD,
  });
  await c.connect();
  return {
    one: async (sql) => (await c.query(sql)).rows[0],
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

/** Users (besides `bench`) made straight in the tables: name → token. */
async function addDevices(sql, userId, n, prefix) {
  const tokens = Array.from({ length: n }, newToken);
  await sql.tx(
    tokens.map(
      (t, i) =>
        `INSERT INTO devices (user_id, name, token_hash, created_at) VALUES (${userId}, '${prefix}${i}', '${sha256(t)}', ${NOW})`,
    ),
  );
  return tokens;
}

async function prepareEngine(kind, work) {
  const dir = mkdtempSync(path.join(work, `${kind}-`));
  const engine = { kind, dir, db: null, args: [] };
  if (kind === 'postgres') {
    engine.db = await testDatabase();
    process.env.PGPASSWORD = engine.db.env.PGPASSWORD;
    engine.args = ['--meta', engine.db.url];
  }
  const added = await runLoft([
    'user',
    'add',
    'bench',
    '--data',
    dir,
    ...engine.args,
    '--device',
    'committer',
  ]);
  if (added.code !== 0) throw new Error(`loft user add: ${added.stderr}`);
  engine.token = added.stdout.trim().split('\n').at(-1);
  const server = new ServerProcess(dir, [...engine.args, '--gc-interval', '0']);
  await server.start(START_MS);
  engine.server = server;
  await putBlock(server.url, engine.token);
  const me = await call(server.url, engine.token, 'GET', '/v1/whoami');
  engine.ns = me.ns;
  const sql = await openSql(engine);
  try {
    const user = await sql.one(`SELECT id FROM users WHERE name = 'bench'`);
    const device = await sql.one(`SELECT id FROM devices WHERE name = 'committer'`);
    const { head } = await sql.one(`SELECT head_seq AS head FROM namespaces WHERE id = ${me.ns}`);
    const { base } = await sql.one(`SELECT max(id) + 1 AS base FROM nodes`);
    const t0 = performance.now();
    const groups = fillStatements(kind, {
      ns: me.ns,
      root: me.rootId,
      head: Number(head),
      base: Number(base),
      deviceId: Number(device.id),
    });
    for (const [i, g] of groups.entries()) {
      await sql.tx(g);
      if (i % 20 === 0) log(`${kind}: ${Math.min(i * FOLDER, FILES).toLocaleString('en-US')} files written`);
    }
    const last = Number(head) + FOLDERS + FILES;
    await sql.tx([
      `UPDATE namespaces SET head_seq = ${last} WHERE id = ${me.ns}`,
      ...(kind === 'postgres'
        ? // autovacuum would analyze the new rows soon after such a load; the bench does it at once.
          [`SELECT setval(pg_get_serial_sequence('nodes', 'id'), (SELECT max(id) FROM nodes))`, 'ANALYZE']
        : []),
    ]);
    engine.fillMs = performance.now() - t0;
    engine.cursor = cursorOf(me.ns, last);
    engine.userId = Number(user.id);
    engine.devices = await addDevices(sql, engine.userId, DEVICES + 1, 'poller');
    log(`${kind}: ${FILES.toLocaleString('en-US')} files in ${(engine.fillMs / 1000).toFixed(1)} s`);
  } finally {
    await sql.close();
  }
  return engine;
}

// ---- measurements ----------------------------------------------------------------------------

async function timed(fn) {
  const t0 = performance.now();
  const v = await fn();
  return [performance.now() - t0, v];
}

async function measureList(e, run) {
  const p = `/v1/list?path=${encodeURIComponent(`/d${((run + 1) * 7) % FOLDERS}`)}`;
  const [ms, body] = await timed(() => call(e.server.url, e.token, 'GET', p));
  if (body.entries.length < FOLDER) throw new Error(`listed ${body.entries.length} entries, not ${FOLDER}`);
  return ms;
}

async function measureCommits(e, run) {
  const out = [];
  for (let i = 0; i < COMMITS; i++) {
    const [ms] = await timed(() => commitNew(e.server.url, e.token, `/d0/c-${run}-${i}.txt`));
    out.push(ms);
  }
  return median(out);
}

async function measurePull(e) {
  let cursor = '';
  let entries = 0;
  const [ms] = await timed(async () => {
    for (;;) {
      const page = await call(
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
  if (entries < FILES) throw new Error(`the pull read ${entries} entries, fewer than ${FILES} files`);
  return ms;
}

/** The journal's head cursor now: read on from the last one known (a few entries at most). */
async function headCursor(e, token) {
  for (;;) {
    const page = await call(
      e.server.url,
      token,
      'GET',
      `/v1/changes?cursor=${encodeURIComponent(e.cursor)}&limit=${PAGE}`,
    );
    e.cursor = page.cursor;
    if (!page.hasMore) return e.cursor;
  }
}

async function longPollsOpen(base) {
  const res = await request(`${base}/metrics`, { dispatcher: agent });
  const text = await res.body.text();
  return Number(/^loft_longpolls_open (\d+)/m.exec(text)?.[1] ?? 0);
}

async function measureWakeups(e, run) {
  const base = e.server.url;
  const pollers = e.devices.slice(0, DEVICES);
  const committer = e.devices[DEVICES];
  const samples = [];
  for (let r = 0; r < ROUNDS; r++) {
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
async function writerTokens(db, work) {
  const dir = mkdtempSync(path.join(work, 'writers-'));
  const tokens = [];
  for (let w = 0; w < WRITERS; w += 2) {
    const made = await Promise.all(
      [w, w + 1]
        .filter((i) => i < WRITERS)
        .map(async (i) => {
          const r = await runLoft(['user', 'add', `writer${i}`, '--data', dir, '--meta', db.url]);
          if (r.code !== 0) throw new Error(`loft user add writer${i}: exit ${r.code}: ${r.stderr}`);
          return r.stdout.trim().split('\n').at(-1);
        }),
    );
    tokens.push(...made);
  }
  return tokens;
}

async function throughput(db, servers, writers, work) {
  const dir = mkdtempSync(path.join(work, `tp-${servers}-`));
  const args = ['--meta', db.url, '--gc-interval', '0', '--trust-proxy', '127.0.0.1'];
  const procs = Array.from({ length: servers }, () => new ServerProcess(dir, args));
  await Promise.all(procs.map((s) => s.start(START_MS)));
  const lb = await startBalancer(procs.map((s) => s.url));
  try {
    // Possession of the block (blocks are on each run's own disk: sent again).
    await Promise.all(writers.map((tok, w) => putBlock(lb.url, tok, writerBlock(w))));
    const rates = [];
    // Run -1 warms the fresh servers up (JIT, connection pools) and is not counted: without it
    // the rate climbed run after run and the first server set looked the fastest.
    for (let run = -1; run < RUNS; run++) {
      let commits = 0;
      const end = performance.now() + THROUGHPUT_MS;
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

const work = mkdtempSync(path.join(os.tmpdir(), 'loft-bench-scale-'));
const engines = [];
const cleanup = async () => {
  for (const e of engines) await e.server?.dispose().catch(() => {});
  await agent.close().catch(() => {});
  rmSync(work, { recursive: true, force: true });
};
let exitCode = 0;
const results = {};
try {
  for (const kind of ENGINES) {
    log(`${kind}: preparing ${FILES.toLocaleString('en-US')} files in ${FOLDERS} folders`);
    const e = await prepareEngine(kind, work);
    engines.push(e);
    const r = { fillMs: e.fillMs, list: [], commit: [], pull: [], wake: [] };
    await measureList(e, -1); // warm-up (JIT, caches), not counted
    for (let run = 0; run < RUNS; run++) {
      r.list.push(await measureList(e, run));
      r.commit.push(await measureCommits(e, run));
      r.pull.push(await measurePull(e));
      r.wake.push(...(await measureWakeups(e, run)));
      log(
        `${kind} run ${run + 1}: list ${r.list.at(-1).toFixed(1)} ms, commit ${r.commit.at(-1).toFixed(2)} ms, ` +
          `pull ${(r.pull.at(-1) / 1000).toFixed(2)} s, wake-up p50 ${pct(r.wake, 50).toFixed(1)} ms p99 ${pct(r.wake, 99).toFixed(1)} ms (pooled so far)`,
      );
    }
    results[kind] = r;
    await e.server.stop();
  }
  // ---- report ----
  const kinds = Object.keys(results);
  const row = (label, f) => `| ${label} | ${kinds.map((k) => f(results[k])).join(' | ')} |`;
  const lines = [
    `Scale: ${FILES.toLocaleString('en-US')} files in ${FOLDERS.toLocaleString('en-US')} folders of ${FOLDER.toLocaleString('en-US')}; ` +
      `${DEVICES} long-polling devices; medians of ${RUNS} run(s); ${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(1)} at the end`,
    '',
    `| | ${kinds.join(' | ')} |`,
    `|---|${kinds.map(() => '---:').join('|')}|`,
    row('namespace written (untimed set-up)', (r) => `${(r.fillMs / 1000).toFixed(1)} s`),
    row(`list a folder of ${FOLDER.toLocaleString('en-US')}`, (r) => `${median(r.list).toFixed(1)} ms`),
    row('commit (one new file, sequential)', (r) => `${median(r.commit).toFixed(2)} ms`),
    row(`first mount's pull (journal, pages of ${PAGE})`, (r) => `${(median(r.pull) / 1000).toFixed(2)} s`),
    row(`wake-up of ${DEVICES} devices, p50`, (r) => `${pct(r.wake, 50).toFixed(1)} ms`),
    row(`wake-up of ${DEVICES} devices, p99`, (r) => `${pct(r.wake, 99).toFixed(1)} ms`),
  ];
  if (kinds.length) process.stdout.write(lines.join('\n') + '\n');
  lines.length = 0;
  const pgEngine = engines.find((e) => e.kind === 'postgres');
  const tp = {};
  if (SERVERS.length) {
    // On the namespace's database when there is one (a fresh one otherwise: --engines sqlite).
    const db = pgEngine?.db ?? (await testDatabase());
    process.env.PGPASSWORD = db.env.PGPASSWORD;
    const writers = await writerTokens(db, work);
    for (const n of SERVERS) tp[n] = await throughput(db, n, writers, work);
  }

  if (Object.keys(tp).length) {
    lines.push(
      ...(kinds.length ? [''] : []),
      `Commit throughput on PostgreSQL behind HAProxy (${WRITERS} writers, one namespace each, ${THROUGHPUT_MS / 1000} s a run):`,
      '',
      '| servers | commits/s |',
      '|---:|---:|',
      ...Object.entries(tp).map(([n, v]) => `| ${n} | ${Math.round(v)} |`),
    );
  }
  process.stdout.write(lines.join('\n') + '\n');
  if (flag('json')) process.stdout.write(JSON.stringify({ results, throughput: tp }) + '\n');
} catch (err) {
  log(`failed: ${err.stack ?? err.message}`);
  exitCode = 1;
} finally {
  await cleanup();
}
process.exit(exitCode);
