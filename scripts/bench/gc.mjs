#!/usr/bin/env node
// The garbage-collection benchmark at size (issue 18): request latency while the server's GC runs,
// one GC pass's duration over a big namespace, and `rm -rf` of many files from close to committed.
// Usage: node scripts/bench/gc.mjs [--only gc-latency,gc-size,rm-rf] [--runs 1]
//          [--files 20000] [--nodes 1000000] [--revs 3] [--per-folder 1000] [--seconds 30]
//          [--concurrency 1] [--rm-files 10000] [--rm-folders 100] [--gc-cap 1800]
//          [--gc-size-in cli|serve] [--block-files]
// Needs a build (npx tsc -p tsconfig.json); imports nothing from dist/ but runs bin/loft.js.
//
// Data: every namespace is written by scripts/bench/gc-populate.mjs straight into a fresh meta.db
// (`loft user add bench` makes the database, user and device token first): folders of --per-folder
// files, each file with --revs revisions of one 4 KiB block each, all 3 days old, so that a pass
// with --keep-days 0 purges (revs - 1) × files revisions and as many blocks. One template per size
// and run, copied (cp of the data dir) for every server or `loft gc` that uses it, so each starts
// from the same, uncollected data. The token stays in this process: servers are asked with an
// Authorization header, mounts get it through LOFT_TOKEN, never on a command line.
//
// Scenarios (each `--only NAME`):
//   gc-latency  --files files × --revs (default 20,000 × 3 = 60,000 revisions: the issue's bar (a)),
//               block files present. (1) baseline: `loft serve --gc-interval 0`, GET /v1/node of
//               random files for --seconds. (2) `loft serve --keep-days 0 --gc-interval 2s
//               --log-level info`: the same load for --seconds from start-up (the first pass starts
//               2 s after start); then, without load, wait for the first "garbage collection done"
//               log line (its durationMs: the pass) up to --gc-cap seconds. Latency is reported over
//               the whole window and for requests that overlapped a pass ([time - durationMs, time]
//               of each logged pass; a pass still running when the window ends counts from its
//               start, known once it has finished). (3) `loft gc --keep-days 0 --json` on another
//               copy, no load: the pass alone.
//   gc-size     --nodes files × --revs (default 1,000,000 × 3), no block files unless --block-files.
//               --gc-size-in cli (default): `loft serve --gc-interval 0` under load; after 10 s
//               (the before-GC sample) `loft gc --keep-days 0 --json` runs on the same data dir
//               while the load goes on; its report gives the pass's duration and what it purged.
//               --gc-size-in serve: the server's own pass (`--gc-interval 1h`: the first pass
//               starts 60 s after start-up), its duration from the log; load until it is done.
//               Both bounded by --gc-cap seconds.
//   rm-rf       `loft serve` + two `loft mount` (devices A and B of one user). For each case, the
//               issue's (2,000 files in 20 folders: bar (b)) and --rm-files in --rm-folders: A
//               writes the files (100 bytes each, distinct) under /rmrf-N/ (folders inside), waits
//               until A has nothing pending and B lists every file, then `rm -rf` of the top folder
//               on A is timed, and from the moment it returns: the server's GET /v1/node of the
//               folder answers a tombstone (or 404), A's status shows pending = 0, and B's listing
//               of its root no longer shows the folder (and its stat fails). Each wait capped.
// Latency: sequential GET /v1/node?path=/dNNNNN/fNNNNNNN of uniformly random files over one
// keep-alive connection per --concurrency client (undici), after 200 warm-up requests (gc-latency
// and gc-size in serve mode: 50, so that the 2 s timer is not reached first). Percentiles are
// nearest-rank. Tables give the median across --runs of each run's value, and every run's value.
// Everything started is stopped (servers SIGTERM then SIGKILL, mounts SIGTERM + fusermount -u),
// the work dir under /tmp is removed; loopback only. Progress → stderr, tables → stdout.
import { execFile, spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
// gc-populate is TypeScript now: its compiled module (npx tsc -p .).
import { filePath, layout, populate } from '../../dist/scripts/bench/gc-populate.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const LOFT_BIN = path.join(ROOT, 'bin', 'loft.js');
const SCENARIOS = ['gc-latency', 'gc-size', 'rm-rf'];
const WARMUP_REQUESTS = 200;
const WARMUP_REQUESTS_GC = 50; // before the server's 2 s GC timer fires
const GC_INTERVAL_LATENCY = '2s'; // the issue's bar (a)
const GC_SIZE_SERVE_INTERVAL = '1h'; // first pass at min(interval, 60 s) (FIRST_RUN_MAX_DELAY_MS)
const GC_SIZE_BEFORE_S = 10; // gc-size, cli mode: load before `loft gc` starts
const RM_SMALL = { files: 2000, folders: 20 }; // the issue's bar (b)
const RM_FILE_BYTES = 100;
const RM_POLL_MS = 10; // server, A's status and B's listing after the rm
const RM_WAIT_CAP_MS = 120_000; // each wait after the rm
const CREATE_CAP_MS = 30 * 60_000; // set-up: every file committed and listed on B
const MOUNT_READY_MS = 60_000;
const STOP_GRACE_MS = 15_000;
const SERVER_STOP_GRACE_MS = 20_000; // a server stopped mid-pass waits for it (GarbageCollector.close)

const execFileP = promisify(execFile);
const log = (msg) => process.stderr.write(`gc bench: ${msg}\n`);
const firstLine = (text) =>
  String(text ?? '')
    .split('\n')
    .map((l) => l.trim())
    .find(Boolean) ?? '';
const sorted = (xs) => [...xs].sort((a, b) => a - b);
const pct = (s, p) =>
  s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] : NaN;
const median = (xs) => {
  const s = sorted(xs.filter((x) => !Number.isNaN(x)));
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
function fmt(v, unit) {
  if (v === Infinity) return 'timeout';
  if (!Number.isFinite(v)) return 'n/a';
  if (unit === 'count') return Math.round(v).toLocaleString('en-US');
  if (Math.abs(v) < 10) return v.toFixed(2);
  if (Math.abs(v) < 100) return v.toFixed(1);
  return Math.round(v).toLocaleString('en-US');
}

function parseArgs(argv) {
  const usage =
    'usage: node scripts/bench/gc.mjs [--only gc-latency,gc-size,rm-rf] [--runs N] [--files N] [--nodes N] ' +
    '[--revs N] [--per-folder N] [--seconds N] [--concurrency N] [--rm-files N] [--rm-folders N] ' +
    '[--gc-cap SECONDS] [--gc-size-in cli|serve] [--block-files]';
  const opts = {
    only: [...SCENARIOS],
    runs: 1,
    files: 20_000,
    nodes: 1_000_000,
    revs: 3,
    'per-folder': 1000,
    seconds: 30,
    concurrency: 1,
    'rm-files': 10_000,
    'rm-folders': 100,
    'gc-cap': 1800,
    'gc-size-in': 'cli',
    'block-files': false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.split('=', 2);
    const key = flag.replace(/^--/, '');
    if (!flag.startsWith('--') || !(key in opts)) throw new Error(`${usage} (bad "${arg}")`);
    if (key === 'block-files') {
      opts[key] = true;
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`${usage} (no value for "${arg}")`);
    if (key === 'only') {
      opts.only = value.split(',').filter(Boolean);
      const bad = opts.only.filter((s) => !SCENARIOS.includes(s));
      if (bad.length || !opts.only.length) throw new Error(`${usage} (unknown scenario "${bad[0] ?? ''}")`);
    } else if (key === 'gc-size-in') {
      if (!['cli', 'serve'].includes(value)) throw new Error(`${usage} (bad "${arg}")`);
      opts[key] = value;
    } else {
      if (!/^[1-9]\d*$/.test(value)) throw new Error(`${usage} (bad "${arg}")`);
      opts[key] = Number(value);
    }
  }
  if (opts.revs < 2) log('note: --revs 1 leaves GC nothing to purge');
  return opts;
}

// ---- child processes and mounts (as in sync.mjs) ------------------------------------------------------

const children = new Set();

function startChild(name, cmd, args, { env } = {}) {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  const c = { name, proc, stdout: '', stderr: '', exit: null, lines: [] };
  const keep = (key) => (d) => {
    if (c[key].length < 1 << 20) c[key] += d;
  };
  proc.stdout.on('data', keep('stdout'));
  proc.stderr.on('data', keep('stderr'));
  c.closed = new Promise((resolve) => {
    proc.once('error', (err) => {
      c.stderr += `${err.message}\n`;
      c.exit ??= 'spawn error';
      children.delete(c);
      resolve();
    });
    proc.once('close', (code, signal) => {
      c.exit ??= code ?? signal;
      children.delete(c);
      resolve();
    });
  });
  children.add(c);
  return c;
}
const alive = (c) => c.exit === null;

async function killChild(c, graceMs = STOP_GRACE_MS) {
  if (!alive(c)) return;
  c.proc.kill('SIGTERM');
  if (await Promise.race([c.closed.then(() => true), sleep(graceMs).then(() => false)])) return;
  log(`${c.name}: still running ${graceMs / 1000} s after SIGTERM; SIGKILL`);
  c.proc.kill('SIGKILL');
  await c.closed;
}

function mountedPaths() {
  return fs
    .readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[1].replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))));
}
const isMounted = (mnt) => mountedPaths().includes(mnt);

async function unmount(mnt) {
  for (const args of [['-u'], ['-uz']]) {
    if (!isMounted(mnt)) return true;
    await execFileP('fusermount', [...args, mnt]).catch(() => {});
  }
  if (isMounted(mnt)) await execFileP('umount', ['-l', mnt]).catch(() => {});
  return !isMounted(mnt);
}

const mounts = new Set();

async function stopMount(m) {
  if (!mounts.has(m)) return;
  if (alive(m.child)) {
    m.child.proc.kill('SIGTERM');
    const exited = await Promise.race([
      m.child.closed.then(() => true),
      sleep(STOP_GRACE_MS).then(() => false),
    ]);
    if (!exited) log(`${m.mnt} still running ${STOP_GRACE_MS / 1000} s after SIGTERM; forcing`);
  }
  await unmount(m.mnt);
  await killChild(m.child, 5000);
  m.agent?.destroy();
  if (!(await unmount(m.mnt))) throw new Error(`could not unmount ${m.mnt}`);
  mounts.delete(m);
}

async function waitForOutput(child, stream, re, what, capMs = 120_000) {
  const deadline = Date.now() + capMs;
  for (;;) {
    const m = re.exec(child[stream]);
    if (m) return m;
    if (!alive(child)) throw new Error(`${child.name} exited (${child.exit}): ${firstLine(child.stderr)}`);
    if (Date.now() > deadline) throw new Error(`${what}: nothing after ${capMs / 1000} s`);
    await sleep(20);
  }
}

/** Polls `check()` every `everyMs`; performance.now() of the first true, or Infinity after capMs. */
async function pollUntil(check, { capMs, everyMs, from = performance.now() }) {
  for (;;) {
    if (await check()) return performance.now();
    if (performance.now() - from > capMs) return Infinity;
    await sleep(everyMs);
  }
}

// ---- Loft server, users, data ---------------------------------------------------------------------------

const loftCli = async (...args) =>
  (await execFileP(process.execPath, [LOFT_BIN, ...args], { maxBuffer: 16 << 20 })).stdout;

/** `loft user add NAME` (or `user token`): the device token is the last line of stdout. */
async function deviceToken(dataDir, verb, name, device) {
  const args = ['user', verb, name, '--data', dataDir, ...(device ? ['--device', device] : [])];
  return (await loftCli(...args)).trim().split('\n').pop();
}

/** Starts `loft serve` on 127.0.0.1:0; resolves when it prints `listening on URL`. */
async function startServer(dataDir, extra) {
  const t0 = performance.now();
  const child = startChild('loft serve', process.execPath, [
    LOFT_BIN,
    'serve',
    '--data',
    dataDir,
    '--listen',
    '127.0.0.1:0',
    ...extra,
  ]);
  const [, url] = await waitForOutput(child, 'stdout', /listening on (http:\/\/\S+)/, 'loft serve start-up');
  return { child, url: url.replace(/\/$/, ''), startMs: performance.now() - t0, startedWall: Date.now() };
}

/** The server's "garbage collection done" log lines (pino JSON on stdout or stderr): passes so far. */
function gcPasses(child) {
  const out = [];
  for (const line of `${child.stdout}\n${child.stderr}`.split('\n')) {
    if (!line.includes('garbage collection done')) continue;
    try {
      const j = JSON.parse(line);
      out.push({ start: j.time - j.durationMs, end: j.time, report: j });
    } catch {
      // not a JSON line
    }
  }
  return out.sort((a, b) => a.start - b.start);
}

/** A template data dir: user `bench` (token kept) + the populated namespace. */
async function makeTemplate(work, label, { files, revs, perFolder, blockFiles }) {
  const dir = path.join(work, `template-${label}`);
  fs.mkdirSync(dir, { recursive: true });
  const t0 = performance.now();
  const token = await deviceToken(dir, 'add', 'bench');
  const made = await populate(dir, { userName: 'bench', files, revs, perFolder, blockFiles, log });
  // The first open by the store (it may migrate a schema a newer Loft has): `loft user token` opens
  // the database as every server does. Timed on its own.
  const t1 = performance.now();
  await deviceToken(dir, 'token', 'bench', 'first-open');
  const firstOpenMs = performance.now() - t1;
  const du = Number((await execFileP('du', ['-sb', dir])).stdout.split('\t')[0]);
  const metaBytes = fs.statSync(path.join(dir, 'meta.db')).size;
  log(
    `${label}: ${made.files.toLocaleString('en-US')} files in ${made.folders} folders, ` +
      `${made.revisions.toLocaleString('en-US')} revisions generated in ${(made.ms.total / 1000).toFixed(1)} s ` +
      `(rows ${(made.ms.rows / 1000).toFixed(1)} s, indexes ${(made.ms.indexes / 1000).toFixed(1)} s); ` +
      `meta.db ${(metaBytes / 2 ** 20).toFixed(0)} MiB; first open ${firstOpenMs.toFixed(0)} ms`,
  );
  return { dir, token, made, genMs: performance.now() - t0, firstOpenMs, bytes: du, metaBytes, perFolder };
}

async function copyOf(tpl, to) {
  await execFileP('cp', ['-a', tpl.dir, to]);
  return to;
}

// ---- request load -----------------------------------------------------------------------------------------

/**
 * GET /v1/node of random files, `concurrency` sequential clients, until `stop()` is true (checked
 * before each request) or `count` requests were made. Samples: { t0, t1 } wall ms, ms, status.
 */
async function load(url, token, files, perFolder, { concurrency, stop = () => false, count = Infinity }) {
  const { Agent, request } = await import('undici');
  const agent = new Agent({
    connections: concurrency,
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 600_000,
  });
  const headers = { authorization: `Bearer ${token}` };
  const samples = [];
  let made = 0;
  const client = async () => {
    while (made < count && !stop()) {
      made++;
      const p = filePath(randomInt(files), perFolder);
      const w0 = Date.now();
      const t0 = performance.now();
      let status;
      try {
        const res = await request(`${url}/v1/node?path=${encodeURIComponent(p)}`, {
          headers,
          dispatcher: agent,
          headersTimeout: 600_000,
          bodyTimeout: 600_000,
        });
        const body = await res.body.json();
        status = res.statusCode === 200 && body.name === path.basename(p) ? 200 : res.statusCode || 0;
      } catch {
        status = 0;
      }
      samples.push({ w0, w1: Date.now(), ms: performance.now() - t0, status });
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, client));
  } finally {
    await agent.destroy().catch(() => {});
  }
  return samples;
}

/** p50/p99/max/n/errors of samples (ms). */
function latency(samples) {
  const s = sorted(samples.map((x) => x.ms));
  return {
    p50: pct(s, 50),
    p99: pct(s, 99),
    max: s.length ? s.at(-1) : NaN,
    n: s.length,
    errors: samples.filter((x) => x.status !== 200).length,
  };
}
/** Samples that overlapped a pass (wall clock, [start, end]). */
const during = (samples, passes) =>
  samples.filter((x) => passes.some((p) => x.w1 >= p.start && x.w0 <= p.end));

// ---- gc-latency --------------------------------------------------------------------------------------------

async function gcLatency(work, run, opts) {
  const files = opts.files;
  const tpl = await makeTemplate(work, `lat-r${run}`, {
    files,
    revs: opts.revs,
    perFolder: opts['per-folder'],
    blockFiles: true,
  });
  const r = { genMs: tpl.genMs, firstOpenMs: tpl.firstOpenMs, revisions: tpl.made.revisions };
  const seconds = opts.seconds * 1000;
  const loadFor = async (srv, warm) => {
    await load(srv.url, tpl.token, files, tpl.perFolder, { concurrency: opts.concurrency, count: warm });
    const until = performance.now() + seconds;
    return load(srv.url, tpl.token, files, tpl.perFolder, {
      concurrency: opts.concurrency,
      stop: () => performance.now() >= until,
    });
  };

  // (1) baseline: no GC.
  {
    const dir = await copyOf(tpl, path.join(work, `lat-r${run}-base`));
    const srv = await startServer(dir, ['--gc-interval', '0']);
    r.startMs = srv.startMs;
    try {
      log(`gc-latency run ${run}: baseline (--gc-interval 0), ${opts.seconds} s of GET /v1/node…`);
      r.base = latency(await loadFor(srv, WARMUP_REQUESTS));
    } finally {
      await killChild(srv.child, SERVER_STOP_GRACE_MS);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  // (2) the server's own GC every 2 s.
  {
    const dir = await copyOf(tpl, path.join(work, `lat-r${run}-gc`));
    const srv = await startServer(dir, [
      '--keep-days',
      '0',
      '--gc-interval',
      GC_INTERVAL_LATENCY,
      '--log-level',
      'info',
    ]);
    try {
      log(
        `gc-latency run ${run}: --keep-days 0 --gc-interval ${GC_INTERVAL_LATENCY}, ${opts.seconds} s of GET /v1/node…`,
      );
      const samples = await loadFor(srv, WARMUP_REQUESTS_GC);
      r.gc = latency(samples);
      const capMs = opts['gc-cap'] * 1000;
      log(
        `gc-latency run ${run}: load done; waiting (no load) for the first pass to finish (cap ${opts['gc-cap']} s)…`,
      );
      const done = await pollUntil(async () => gcPasses(srv.child).length > 0 || !alive(srv.child), {
        capMs,
        everyMs: 200,
      });
      const passes = gcPasses(srv.child);
      if (done === Infinity || !passes.length) {
        r.firstPassMs = Infinity;
        // The pass still runs: every request from 2 s after start-up overlapped it.
        r.inPass = latency(samples.filter((x) => x.w1 >= srv.startedWall + 2000));
      } else {
        const first = passes[0];
        r.firstPassMs = first.report.durationMs;
        r.firstPassPurged = first.report.purgedRevisions;
        r.firstPassBlocks = first.report.deletedBlocks;
        r.inPass = latency(during(samples, passes));
        r.passesInWindow = passes.filter((p) => p.start <= samples.at(-1).w1).length;
        r.laterPassMs = median(passes.slice(1).map((p) => p.report.durationMs));
      }
    } finally {
      await killChild(srv.child, SERVER_STOP_GRACE_MS);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  // (3) `loft gc` alone.
  {
    const dir = await copyOf(tpl, path.join(work, `lat-r${run}-cli`));
    try {
      log(`gc-latency run ${run}: loft gc --keep-days 0 --json (no load)…`);
      const rep = await cliGc(dir, opts['gc-cap'] * 1000);
      r.cliPassMs = rep.durationMs;
      r.cliPurged = rep.purgedRevisions;
      r.cliBlocks = rep.deletedBlocks;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  fs.rmSync(tpl.dir, { recursive: true, force: true });
  return r;
}

/** `loft gc --keep-days 0 --json` on a data dir: its report (durationMs Infinity after capMs). */
async function cliGc(dir, capMs) {
  const c = startChild('loft gc', process.execPath, [
    LOFT_BIN,
    'gc',
    '--data',
    dir,
    '--keep-days',
    '0',
    '--json',
  ]);
  const t0 = performance.now();
  const w0 = Date.now();
  const ended = await Promise.race([c.closed.then(() => true), sleep(capMs).then(() => false)]);
  const wallMs = performance.now() - t0;
  if (!ended) {
    await killChild(c, 5000);
    return { durationMs: Infinity, wallMs, w0, w1: Date.now() };
  }
  if (c.exit !== 0) throw new Error(`loft gc exited ${c.exit}: ${firstLine(c.stderr)}`);
  return { ...JSON.parse(c.stdout.trim().split('\n').pop()), wallMs, w0, w1: Date.now() };
}

// ---- gc-size -------------------------------------------------------------------------------------------------

async function gcSize(work, run, opts) {
  const files = opts.nodes;
  const tpl = await makeTemplate(work, `size-r${run}`, {
    files,
    revs: opts.revs,
    perFolder: opts['per-folder'],
    blockFiles: opts['block-files'],
  });
  const r = {
    genMs: tpl.genMs,
    firstOpenMs: tpl.firstOpenMs,
    revisions: tpl.made.revisions,
    metaBytes: tpl.metaBytes,
    mode: opts['gc-size-in'],
  };
  const capMs = opts['gc-cap'] * 1000;
  // The data dir itself is used (no copy): the template is not needed afterwards.
  try {
    if (opts['gc-size-in'] === 'cli') {
      const srv = await startServer(tpl.dir, ['--gc-interval', '0']);
      r.startMs = srv.startMs;
      try {
        await load(srv.url, tpl.token, files, tpl.perFolder, {
          concurrency: opts.concurrency,
          count: WARMUP_REQUESTS,
        });
        let gcDone = false;
        const samplesP = load(srv.url, tpl.token, files, tpl.perFolder, {
          concurrency: opts.concurrency,
          stop: () => gcDone,
        });
        log(
          `gc-size run ${run}: ${GC_SIZE_BEFORE_S} s of load, then loft gc --keep-days 0 --json beside the server…`,
        );
        await sleep(GC_SIZE_BEFORE_S * 1000);
        let rep;
        try {
          rep = await cliGc(tpl.dir, capMs);
        } finally {
          gcDone = true;
        }
        const samples = await samplesP;
        r.passMs = rep.durationMs;
        r.passWallMs = rep.wallMs;
        if (rep.durationMs === Infinity) Object.assign(r, await progressAt(tpl, rep.wallMs));
        r.purged = rep.purgedRevisions;
        r.blocks = rep.deletedBlocks;
        r.before = latency(samples.filter((x) => x.w1 < rep.w0));
        r.inPass = latency(samples.filter((x) => x.w1 >= rep.w0 && x.w0 <= rep.w1));
      } finally {
        await killChild(srv.child, SERVER_STOP_GRACE_MS);
      }
    } else {
      const srv = await startServer(tpl.dir, [
        '--keep-days',
        '0',
        '--gc-interval',
        GC_SIZE_SERVE_INTERVAL,
        '--log-level',
        'info',
      ]);
      r.startMs = srv.startMs;
      try {
        log(
          `gc-size run ${run}: loft serve --keep-days 0 --gc-interval ${GC_SIZE_SERVE_INTERVAL}: load until its first pass is done (starts ~60 s after start-up)…`,
        );
        const until = performance.now() + capMs;
        const samples = await load(srv.url, tpl.token, files, tpl.perFolder, {
          concurrency: opts.concurrency,
          stop: () => performance.now() > until || gcPasses(srv.child).length > 0 || !alive(srv.child),
        });
        const passes = gcPasses(srv.child);
        if (!passes.length) {
          r.passMs = Infinity;
          // The pass started ~60 s after start-up (FIRST_RUN_MAX_DELAY_MS); how far it got:
          Object.assign(r, await progressAt(tpl, capMs - 60_000));
        } else {
          const p = passes[0];
          r.passMs = p.report.durationMs;
          r.purged = p.report.purgedRevisions;
          r.blocks = p.report.deletedBlocks;
          r.before = latency(samples.filter((x) => x.w1 < p.start));
          r.inPass = latency(during(samples, [p]));
        }
      } finally {
        await killChild(srv.child, SERVER_STOP_GRACE_MS);
      }
    }
  } finally {
    fs.rmSync(tpl.dir, { recursive: true, force: true });
  }
  return r;
}

/**
 * A pass cut off by --gc-cap: how many revisions it had purged (read from meta.db beside the
 * running server, a WAL reader), and the pass duration that rate extrapolates to (retention goes
 * through the nodes in id order; the block phase after it is not included).
 */
async function progressAt(tpl, elapsedMs) {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(path.join(tpl.dir, 'meta.db'), { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 10000');
    const left = db.prepare('SELECT COUNT(*) AS n FROM revisions').get().n;
    const toPurge =
      tpl.made.files *
      (tpl.made.revisions > tpl.made.files + tpl.made.folders
        ? (tpl.made.revisions - tpl.made.folders) / tpl.made.files - 1
        : 0);
    const purgedSoFar = tpl.made.revisions + 1 - left;
    return {
      purgedSoFar,
      toPurge,
      extrapolatedMs: purgedSoFar > 0 ? (elapsedMs * toPurge) / purgedSoFar : Infinity,
    };
  } finally {
    db.close();
  }
}

// ---- rm-rf -------------------------------------------------------------------------------------------------------

async function mountLoft(srv, dir, label, token) {
  const mnt = path.join(dir, `mnt-${label}`);
  const state = path.join(dir, `state-${label}`);
  fs.mkdirSync(mnt, { recursive: true });
  fs.mkdirSync(state, { recursive: true });
  const args = [LOFT_BIN, 'mount', mnt, '--server', srv.url, '--state', state];
  const env = { ...process.env, LOFT_TOKEN: token };
  const m = { mnt, state, child: startChild(`loft mount ${label}`, process.execPath, args, { env }) };
  mounts.add(m);
  try {
    const ready = await pollUntil(
      async () => {
        if (!alive(m.child)) throw new Error(`mount ${label}: ${firstLine(m.child.stderr) || m.child.exit}`);
        return (
          /mounted at /.test(m.child.stdout) &&
          fs.existsSync(path.join(state, 'mount.json')) &&
          isMounted(mnt)
        );
      },
      { capMs: MOUNT_READY_MS, everyMs: 50 },
    );
    if (ready === Infinity) throw new Error(`mount ${label}: not ready after ${MOUNT_READY_MS / 1000} s`);
    m.socket = JSON.parse(fs.readFileSync(path.join(state, 'mount.json'), 'utf8')).socket;
    m.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const synced = await pollUntil(async () => (await status(m)).synced !== false, {
      capMs: MOUNT_READY_MS,
      everyMs: 50,
    });
    if (synced === Infinity) throw new Error(`mount ${label}: not synced after ${MOUNT_READY_MS / 1000} s`);
  } catch (err) {
    await stopMount(m).catch(() => {});
    throw err;
  }
  return m;
}

/** GET /status on the mount's control socket: what `loft status --json` prints. */
function status(m) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath: m.socket, path: '/status', method: 'GET', agent: m.agent },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          try {
            resolve(JSON.parse(text));
          } catch (err) {
            reject(err);
          }
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('/status: no answer in 10 s')));
    req.end();
  });
}

/** The server's view of a path: 'live', 'deleted' (tombstone or 404), or 'error'. */
async function serverNode(api, p) {
  const res = await api.request(`${api.url}/v1/node?path=${encodeURIComponent(p)}`, {
    headers: api.headers,
    dispatcher: api.agent,
  });
  const text = await res.body.text();
  if (res.statusCode === 404) return 'deleted';
  if (res.statusCode !== 200) return 'error';
  return JSON.parse(text).deleted ? 'deleted' : 'live';
}

const countFiles = async (dir, folders) => {
  let n = 0;
  for (let f = 0; f < folders; f++) n += (await fsp.readdir(path.join(dir, `s${f}`)).catch(() => [])).length;
  return n;
};

async function rmCase(a, b, api, top, files, folders) {
  const r = { files, folders };
  const dA = path.join(a.mnt, top);
  const dB = path.join(b.mnt, top);
  // Set-up: the files, written through A.
  let t = performance.now();
  await fsp.mkdir(dA);
  for (let f = 0; f < folders; f++) await fsp.mkdir(path.join(dA, `s${f}`));
  for (let i = 0; i < files; i++) {
    const data = Buffer.concat([Buffer.from(`${top} ${i} `), randomBytes(RM_FILE_BYTES)]).subarray(
      0,
      RM_FILE_BYTES,
    );
    await fsp.writeFile(path.join(dA, `s${i % folders}`, `f${i}`), data);
  }
  r.writeMs = performance.now() - t;
  log(
    `rm-rf ${files} files: written on A in ${(r.writeMs / 1000).toFixed(1)} s; waiting until committed and listed on B…`,
  );
  const committed = await pollUntil(async () => (await status(a)).pending === 0, {
    capMs: CREATE_CAP_MS,
    everyMs: 200,
  });
  r.createCommitMs = committed - t;
  const listed = await pollUntil(async () => (await countFiles(dB, folders)) === files, {
    capMs: CREATE_CAP_MS,
    everyMs: 500,
  });
  r.createListedMs = listed - t;
  if (committed === Infinity || listed === Infinity)
    throw new Error(`rm-rf ${files}: set-up not done in ${CREATE_CAP_MS / 60_000} min`);
  await sleep(1000);

  // The rm.
  t = performance.now();
  await execFileP('rm', ['-rf', dA], { timeout: RM_WAIT_CAP_MS });
  const t0 = performance.now();
  r.rmMs = t0 - t;
  const since = (at) => (at === Infinity ? Infinity : at - t0);
  const [server, pending, bList, bStat] = await Promise.all([
    pollUntil(async () => (await serverNode(api, `/${top}`)) === 'deleted', {
      capMs: RM_WAIT_CAP_MS,
      everyMs: RM_POLL_MS,
      from: t0,
    }),
    pollUntil(async () => (await status(a)).pending === 0, {
      capMs: RM_WAIT_CAP_MS,
      everyMs: RM_POLL_MS,
      from: t0,
    }),
    pollUntil(async () => !(await fsp.readdir(b.mnt)).includes(top), {
      capMs: RM_WAIT_CAP_MS,
      everyMs: RM_POLL_MS,
      from: t0,
    }),
    pollUntil(
      () =>
        fsp.stat(dB).then(
          () => false,
          () => true,
        ),
      { capMs: RM_WAIT_CAP_MS, everyMs: RM_POLL_MS, from: t0 },
    ),
  ]);
  Object.assign(r, {
    serverMs: since(server),
    pendingMs: since(pending),
    bListMs: since(bList),
    bStatMs: since(bStat),
  });
  r.committedMs = Math.max(r.serverMs, r.pendingMs);
  r.bGoneMs = Math.max(r.bListMs, r.bStatMs);
  log(
    `rm-rf ${files} files: rm ${fmt(r.rmMs)} ms; then committed ${fmt(r.committedMs)} ms, gone on B ${fmt(r.bGoneMs)} ms`,
  );
  return r;
}

async function rmRf(work, run, opts) {
  const dir = path.join(work, `rm-r${run}`);
  fs.mkdirSync(dir);
  const data = path.join(dir, 'server-data');
  const srv = await startServer(data, []);
  const { Agent, request } = await import('undici');
  const api = { url: srv.url, request, agent: new Agent({ connections: 1 }) };
  let a, b;
  try {
    const tokenA = await deviceToken(data, 'add', 'bench');
    const tokenB = await deviceToken(data, 'token', 'bench', 'devB');
    api.headers = { authorization: `Bearer ${await deviceToken(data, 'token', 'bench', 'watcher')}` };
    a = await mountLoft(srv, dir, 'A', tokenA);
    b = await mountLoft(srv, dir, 'B', tokenB);
    const cases = [RM_SMALL, { files: opts['rm-files'], folders: opts['rm-folders'] }];
    const out = [];
    for (const [i, c] of cases.entries()) {
      if (i > 0 && c.files === RM_SMALL.files && c.folders === RM_SMALL.folders) continue;
      out.push(await rmCase(a, b, api, `rmrf-${c.files}`, c.files, c.folders));
    }
    return out;
  } finally {
    for (const m of [b, a]) if (m) await stopMount(m).catch((err) => log(`rm-rf: ${err.message}`));
    await api.agent.destroy().catch(() => {});
    await killChild(srv.child, SERVER_STOP_GRACE_MS);
    if (!mountedPaths().some((p) => p.startsWith(`${dir}/`)))
      fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---- report -----------------------------------------------------------------------------------------------------

function table(title, rows, results) {
  console.log(`\n### ${title}\n`);
  console.log('| metric | median | runs | unit | bar | met? |\n|---|---:|---|---|---|---|');
  for (const [label, get, unit, bar] of rows) {
    const vals = results.map(get).map((v) => (v === undefined ? NaN : v));
    if (vals.every((v) => Number.isNaN(v))) continue;
    const m = vals.some((v) => v === Infinity) ? Infinity : median(vals);
    const met =
      bar === undefined ? '—' : Number.isFinite(m) ? (m <= bar ? 'met' : '**not met**') : '**not met**';
    console.log(
      `| ${label} | ${fmt(m, unit)} | ${vals.map((v) => fmt(v, unit)).join(', ')} | ${unit} | ${bar === undefined ? '—' : `≤ ${fmt(bar, unit)}`} | ${met} |`,
    );
  }
}

const latRows = (key, label, bar) => [
  [`${label}: p50`, (r) => r[key]?.p50, 'ms'],
  [`${label}: p99`, (r) => r[key]?.p99, 'ms', bar],
  [`${label}: max`, (r) => r[key]?.max, 'ms'],
  [`${label}: requests`, (r) => r[key]?.n, 'count'],
  [`${label}: failed requests`, (r) => r[key]?.errors, 'count'],
];

// ---- main ----------------------------------------------------------------------------------------------------------

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(err.message);
    process.exit(2);
  }
  if (!fs.existsSync(path.join(ROOT, 'dist', 'src', 'cli', 'main.js'))) {
    console.error('gc bench: dist/ is missing (no dist/src/cli/main.js); run npx tsc -p tsconfig.json first');
    process.exit(2);
  }
  const want = (s) => opts.only.includes(s);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'loft-gc-bench-'));
  let cleaning = null;
  const cleanup = () =>
    (cleaning ??= (async () => {
      for (const m of [...mounts]) await stopMount(m).catch((err) => log(`cleanup: ${err.message}`));
      for (const c of [...children]) await killChild(c, 5000).catch(() => {});
      for (const p of mountedPaths().filter((p) => p.startsWith(`${work}/`))) await unmount(p);
      const left = mountedPaths().filter((p) => p.startsWith(`${work}/`));
      if (left.length) {
        log(`cleanup: still mounted, NOT removing ${work}: ${left.join(', ')}`);
        return false;
      }
      fs.rmSync(work, { recursive: true, force: true });
      return true;
    })());
  for (const [sig, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ])
    process.once(sig, () => {
      log(`${sig}: cleaning up`);
      cleanup().finally(() => process.exit(code));
    });

  const command = `node scripts/bench/gc.mjs ${process.argv.slice(2).join(' ')}`.trim();
  const results = { 'gc-latency': [], 'gc-size': [], 'rm-rf': [] };
  const errors = [];
  let exitCode = 0;
  try {
    for (let run = 1; run <= opts.runs; run++) {
      for (const s of SCENARIOS) {
        if (!want(s)) continue;
        log(`run ${run}/${opts.runs}: ${s}`);
        try {
          const r =
            s === 'gc-latency'
              ? await gcLatency(work, run, opts)
              : s === 'gc-size'
                ? await gcSize(work, run, opts)
                : await rmRf(work, run, opts);
          results[s].push(r);
        } catch (err) {
          log(`run ${run}: ${s} failed: ${err.stack ?? err.message}`);
          errors.push(`${s} run ${run}: ${err.message}`);
          for (const m of [...mounts]) await stopMount(m).catch(() => {});
          for (const c of [...children]) await killChild(c, 5000).catch(() => {});
        }
      }
    }

    const cpus = os.cpus();
    console.log(`## Loft GC benchmark (issue 18)\n\ncommand: \`${command}\``);
    const lat = results['gc-latency'];
    if (lat.length) {
      const conc = opts.concurrency;
      table(
        `gc-latency: ${fmt(opts.files, 'count')} files × ${opts.revs} revisions (${fmt(lat[0].revisions, 'count')} revisions), ` +
          `GET /v1/node of random files for ${opts.seconds} s, ${conc} sequential client(s)`,
        [
          ['generating the namespace (rows + indexes + block files)', (r) => r.genMs / 1000, 's'],
          [
            'first open of the generated db: `loft user token` process, spawn to exit',
            (r) => r.firstOpenMs,
            'ms',
          ],
          ['`loft serve` start-up to "listening on"', (r) => r.startMs, 'ms'],
          ...latRows('base', 'no GC (`--gc-interval 0`)'),
          ...latRows('gc', `\`--keep-days 0 --gc-interval ${GC_INTERVAL_LATENCY}\`, whole window (see note)`),
          ...latRows('inPass', 'requests that overlapped a GC pass (bar a)', 200),
          ['GC passes started within the window', (r) => r.passesInWindow, 'count'],
          ['first pass in the server (under load for its first part)', (r) => r.firstPassMs / 1000, 's'],
          ['first pass: revisions purged', (r) => r.firstPassPurged, 'count'],
          ['first pass: blocks deleted', (r) => r.firstPassBlocks, 'count'],
          ['later passes (nothing to purge), median', (r) => r.laterPassMs / 1000, 's'],
          ['`loft gc --keep-days 0 --json` alone, no load', (r) => r.cliPassMs / 1000, 's'],
          ['`loft gc`: revisions purged', (r) => r.cliPurged, 'count'],
          ['`loft gc`: blocks deleted', (r) => r.cliBlocks, 'count'],
        ],
        lat,
      );
    }
    const size = results['gc-size'];
    if (size.length) {
      const inCli = opts['gc-size-in'] === 'cli';
      table(
        `gc-size: ${fmt(opts.nodes, 'count')} files × ${opts.revs} revisions (${fmt(size[0].revisions, 'count')} revisions, ` +
          `${fmt(opts.nodes + Math.ceil(opts.nodes / opts['per-folder']), 'count')} nodes), ` +
          (inCli
            ? '`loft gc --keep-days 0 --json` beside `loft serve --gc-interval 0` under load'
            : `the server's own pass (\`--keep-days 0 --gc-interval ${GC_SIZE_SERVE_INTERVAL}\`) under load`) +
          `${opts['block-files'] ? ', block files present' : ', no block files (deletes hit missing files)'}`,
        [
          ['generating the namespace (rows + indexes)', (r) => r.genMs / 1000, 's'],
          ['meta.db size', (r) => r.metaBytes / 2 ** 20, 'MiB'],
          [
            'first open of the generated db: `loft user token` process, spawn to exit',
            (r) => r.firstOpenMs,
            'ms',
          ],
          ['`loft serve` start-up to "listening on"', (r) => r.startMs, 'ms'],
          ['one GC pass (its durationMs)', (r) => r.passMs / 1000, 's'],
          ...(inCli ? [['`loft gc` process, spawn to exit', (r) => r.passWallMs / 1000, 's']] : []),
          ['revisions purged', (r) => r.purged, 'count'],
          ['pass cut off at --gc-cap: revisions it had purged', (r) => r.purgedSoFar, 'count'],
          ['pass cut off at --gc-cap: revisions to purge in all', (r) => r.toPurge, 'count'],
          [
            'pass cut off at --gc-cap: retention phase extrapolated at that rate',
            (r) => r.extrapolatedMs / 1000,
            's',
          ],
          ['blocks deleted', (r) => r.blocks, 'count'],
          ...latRows('before', 'GET /v1/node before the pass'),
          ...latRows('inPass', 'GET /v1/node during the pass'),
        ],
        size,
      );
    }
    const rm = results['rm-rf'];
    if (rm.length) {
      for (const [i] of rm[0].entries()) {
        const rs = rm.map((cases) => cases[i]).filter(Boolean);
        const { files, folders } = rs[0];
        const isBar = files === RM_SMALL.files && folders === RM_SMALL.folders;
        table(
          `rm-rf: ${fmt(files, 'count')} files (${RM_FILE_BYTES} B) in ${folders} folders under one top folder, two mounts of one user`,
          [
            ['set-up: writing the files on A', (r) => r.writeMs / 1000, 's'],
            ['set-up: from the first write to A pending = 0', (r) => r.createCommitMs / 1000, 's'],
            ['set-up: from the first write to B listing every file', (r) => r.createListedMs / 1000, 's'],
            ['`rm -rf` on A (until it returns)', (r) => r.rmMs, 'ms'],
            ['after rm: server GET /v1/node of the folder is a tombstone', (r) => r.serverMs, 'ms'],
            ["after rm: A's status pending = 0", (r) => r.pendingMs, 'ms'],
            ['after rm: committed (both of the above)', (r) => r.committedMs, 'ms', isBar ? 2000 : undefined],
            ["after rm: gone from B's root listing", (r) => r.bListMs, 'ms'],
            ['after rm: stat on B fails', (r) => r.bStatMs, 'ms'],
          ],
          rs,
        );
      }
    }
    const notes = [
      `machine: node ${process.version}, ${cpus[0]?.model.trim() ?? 'unknown cpu'}, nproc ${cpus.length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM (${os.platform()} ${os.release()})`,
      'latency: sequential GET /v1/node?path=<random file> per client over a keep-alive connection (undici), nearest-rank percentiles; "runs" lists every run',
      'whole window vs during a pass: a sequential client makes thousands of fast requests while no pass runs and one per stall while one does, so a percentile over the whole window hides the stalls; bar (a) is checked on the requests that overlapped a pass',
      'data generated by scripts/bench/gc-populate.mjs straight into meta.db (see there); revisions 3 days old; keep-days 0',
    ];
    for (const e of errors) notes.push(`failed: ${e}`);
    console.log(`\n${notes.map((l) => `- ${l}`).join('\n')}`);
    if (errors.length) exitCode = 1;
  } catch (err) {
    console.error(`gc bench: ${err.stack ?? err.message}`);
    exitCode = 1;
  } finally {
    if (!(await cleanup())) exitCode = 1;
    const left = mountedPaths().filter((p) => p.startsWith(work));
    if (left.length) {
      console.error(`gc bench: mounts left behind: ${left.join(', ')}`);
      exitCode = 1;
    }
  }
  process.exit(exitCode);
}

await main();
