// The garbage-collection benchmark at size (issue 18): request latency while the server's GC runs,
// one GC pass's duration over a big namespace, and `rm -rf` of many files from close to committed.
// Usage: node scripts/bench/gc.mjs [--only gc-latency,gc-size,rm-rf] [--runs 1]
//          [--files 20000] [--nodes 1000000] [--revs 3] [--per-folder 1000] [--seconds 30]
//          [--concurrency 1] [--rm-files 10000] [--rm-folders 100] [--gc-cap 1800]
//          [--gc-size-in cli|serve] [--block-files]
//
// Data: every namespace is written by scripts/bench/gc-populate.ts straight into a fresh meta.db
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
// Everything started is stopped on exit, error or Ctrl-C (lib/main.ts: servers SIGTERM then
// SIGKILL, mounts through lib/loft.ts), the work dir under /tmp is removed; loopback only.
// Progress → stderr, tables → stdout.
import { randomBytes, randomInt } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { Agent, request } from 'undici';
import { filePath, populate, type Populated } from './gc-populate.js';
import { parseFlags } from './lib/cli.js';
import { LOFT_BIN, loftStatus, mountLoft, type LoftMount } from './lib/loft.js';
import { runBench } from './lib/main.js';
import { mountsBelow } from './lib/mounts.js';
import {
  alive,
  execFileP,
  firstLine,
  killChild,
  settlesWithin,
  startChild,
  waitForOutput,
  type Child,
} from './lib/proc.js';
import { median } from './lib/report.js';

const USAGE =
  'usage: node scripts/bench/gc.mjs [--only gc-latency,gc-size,rm-rf] [--runs N] [--files N] [--nodes N] ' +
  '[--revs N] [--per-folder N] [--seconds N] [--concurrency N] [--rm-files N] [--rm-folders N] ' +
  '[--gc-cap SECONDS] [--gc-size-in cli|serve] [--block-files]';
const SCENARIOS = ['gc-latency', 'gc-size', 'rm-rf'] as const;
type Scenario = (typeof SCENARIOS)[number];
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
const SERVER_READY_MS = 120_000; // a server opening a generated database of millions of rows
const SERVER_STOP_GRACE_MS = 20_000; // a server stopped mid-pass waits for it (GarbageCollector.close)

const log = (msg: string): void => void process.stderr.write(`gc bench: ${msg}\n`);
const sorted = (xs: readonly number[]): number[] => [...xs].sort((a, b) => a - b);
const pct = (s: readonly number[], p: number): number =>
  s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]! : NaN;
type Unit = 'ms' | 's' | 'count' | 'MiB';
function fmt(v: number, unit?: Unit): string {
  if (v === Infinity) return 'timeout';
  if (!Number.isFinite(v)) return 'n/a';
  if (unit === 'count') return Math.round(v).toLocaleString('en-US');
  if (Math.abs(v) < 10) return v.toFixed(2);
  if (Math.abs(v) < 100) return v.toFixed(1);
  return Math.round(v).toLocaleString('en-US');
}

/** Polls `check()` every `everyMs`; performance.now() of the first true, or Infinity after capMs. */
async function pollUntil(
  check: () => Promise<boolean> | boolean,
  { capMs, everyMs, from = performance.now() }: { capMs: number; everyMs: number; from?: number },
): Promise<number> {
  for (;;) {
    if (await check()) return performance.now();
    if (performance.now() - from > capMs) return Infinity;
    await sleep(everyMs);
  }
}

// ---- Loft server, users, data ---------------------------------------------------------------------------

/** `loft user add NAME` (or `user token`): the device token is the last line of stdout. */
async function deviceToken(
  dataDir: string,
  verb: 'add' | 'token',
  name: string,
  device?: string,
): Promise<string> {
  const args = ['user', verb, name, '--data', dataDir, ...(device ? ['--device', device] : [])];
  const { stdout } = await execFileP(process.execPath, [LOFT_BIN, ...args], { maxBuffer: 16 << 20 });
  return stdout.trim().split('\n').pop()!;
}

interface Server {
  child: Child;
  url: string;
  startMs: number;
  startedWall: number;
}

/**
 * Starts `loft serve` on 127.0.0.1:0 (lib/proc.ts: its stdout and stderr are kept, for the GC's log
 * lines, and it is stopped on exit); resolves when it prints `listening on URL`.
 */
async function startServer(dataDir: string, extra: readonly string[]): Promise<Server> {
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
  const [, url] = await waitForOutput(
    child,
    'stdout',
    /listening on (http:\/\/\S+)/,
    'loft serve start-up',
    SERVER_READY_MS,
  );
  return { child, url: url!.replace(/\/$/, ''), startMs: performance.now() - t0, startedWall: Date.now() };
}

interface GcReport {
  durationMs: number;
  purgedRevisions?: number;
  deletedBlocks?: number;
  time?: number;
}
interface Pass {
  start: number;
  end: number;
  report: GcReport;
}

/** The server's "garbage collection done" log lines (pino JSON on stdout or stderr): passes so far. */
function gcPasses(child: Child): Pass[] {
  const out: Pass[] = [];
  for (const line of `${child.stdout}\n${child.stderr}`.split('\n')) {
    if (!line.includes('garbage collection done')) continue;
    try {
      const j = JSON.parse(line) as GcReport & { time: number };
      out.push({ start: j.time - j.durationMs, end: j.time, report: j });
    } catch {
      // not a JSON line
    }
  }
  return out.sort((a, b) => a.start - b.start);
}

interface Template {
  dir: string;
  token: string;
  made: Populated;
  genMs: number;
  firstOpenMs: number;
  bytes: number;
  metaBytes: number;
  perFolder: number;
}

/** A template data dir: user `bench` (token kept) + the populated namespace. */
async function makeTemplate(
  work: string,
  label: string,
  {
    files,
    revs,
    perFolder,
    blockFiles,
  }: { files: number; revs: number; perFolder: number; blockFiles: boolean },
): Promise<Template> {
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

async function copyOf(tpl: Template, to: string): Promise<string> {
  await execFileP('cp', ['-a', tpl.dir, to]);
  return to;
}

// ---- request load -----------------------------------------------------------------------------------------

interface Sample {
  w0: number;
  w1: number;
  ms: number;
  status: number;
}

/**
 * GET /v1/node of random files, `concurrency` sequential clients, until `stop()` is true (checked
 * before each request) or `count` requests were made. Samples: wall ms at start and end, ms, status.
 */
async function load(
  url: string,
  token: string,
  files: number,
  perFolder: number,
  {
    concurrency,
    stop = () => false,
    count = Infinity,
  }: { concurrency: number; stop?: () => boolean; count?: number },
): Promise<Sample[]> {
  const agent = new Agent({
    connections: concurrency,
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 600_000,
  });
  const headers = { authorization: `Bearer ${token}` };
  const samples: Sample[] = [];
  let made = 0;
  const client = async (): Promise<void> => {
    while (made < count && !stop()) {
      made++;
      const p = filePath(randomInt(files), perFolder);
      const w0 = Date.now();
      const t0 = performance.now();
      let status: number;
      try {
        const res = await request(`${url}/v1/node?path=${encodeURIComponent(p)}`, {
          headers,
          dispatcher: agent,
          headersTimeout: 600_000,
          bodyTimeout: 600_000,
        });
        const body = (await res.body.json()) as { name?: string };
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

interface Latency {
  p50: number;
  p99: number;
  max: number;
  n: number;
  errors: number;
}

/** p50/p99/max/n/errors of samples (ms). */
function latency(samples: readonly Sample[]): Latency {
  const s = sorted(samples.map((x) => x.ms));
  return {
    p50: pct(s, 50),
    p99: pct(s, 99),
    max: s.length ? s.at(-1)! : NaN,
    n: s.length,
    errors: samples.filter((x) => x.status !== 200).length,
  };
}
/** Samples that overlapped a pass (wall clock, [start, end]). */
const during = (samples: readonly Sample[], passes: readonly Pass[]): Sample[] =>
  samples.filter((x) => passes.some((p) => x.w1 >= p.start && x.w0 <= p.end));

// ---- gc-latency --------------------------------------------------------------------------------------------

type Opts = {
  only: string[];
  runs: number;
  files: number;
  nodes: number;
  revs: number;
  'per-folder': number;
  seconds: number;
  concurrency: number;
  'rm-files': number;
  'rm-folders': number;
  'gc-cap': number;
  'gc-size-in': string;
  'block-files': boolean;
};

interface LatencyResult {
  genMs: number;
  firstOpenMs: number;
  revisions: number;
  startMs?: number;
  base?: Latency;
  gc?: Latency;
  inPass?: Latency;
  firstPassMs?: number;
  firstPassPurged?: number;
  firstPassBlocks?: number;
  passesInWindow?: number;
  laterPassMs?: number;
  cliPassMs?: number;
  cliPurged?: number;
  cliBlocks?: number;
}

async function gcLatency(work: string, run: number, opts: Opts): Promise<LatencyResult> {
  const files = opts.files;
  const tpl = await makeTemplate(work, `lat-r${run}`, {
    files,
    revs: opts.revs,
    perFolder: opts['per-folder'],
    blockFiles: true,
  });
  const r: LatencyResult = { genMs: tpl.genMs, firstOpenMs: tpl.firstOpenMs, revisions: tpl.made.revisions };
  const seconds = opts.seconds * 1000;
  const loadFor = async (srv: Server, warm: number): Promise<Sample[]> => {
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
      const done = await pollUntil(() => gcPasses(srv.child).length > 0 || !alive(srv.child), {
        capMs,
        everyMs: 200,
      });
      const passes = gcPasses(srv.child);
      if (done === Infinity || !passes.length) {
        r.firstPassMs = Infinity;
        // The pass still runs: every request from 2 s after start-up overlapped it.
        r.inPass = latency(samples.filter((x) => x.w1 >= srv.startedWall + 2000));
      } else {
        const first = passes[0]!;
        r.firstPassMs = first.report.durationMs;
        r.firstPassPurged = first.report.purgedRevisions;
        r.firstPassBlocks = first.report.deletedBlocks;
        r.inPass = latency(during(samples, passes));
        r.passesInWindow = passes.filter((p) => p.start <= (samples.at(-1)?.w1 ?? 0)).length;
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
async function cliGc(
  dir: string,
  capMs: number,
): Promise<GcReport & { wallMs: number; w0: number; w1: number }> {
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
  const ended = await settlesWithin(c.closed, capMs);
  const wallMs = performance.now() - t0;
  if (!ended) {
    await killChild(c, 5000);
    return { durationMs: Infinity, wallMs, w0, w1: Date.now() };
  }
  if (c.exit !== 0) throw new Error(`loft gc exited ${c.exit}: ${firstLine(c.stderr)}`);
  return { ...(JSON.parse(c.stdout.trim().split('\n').pop()!) as GcReport), wallMs, w0, w1: Date.now() };
}

// ---- gc-size -------------------------------------------------------------------------------------------------

interface SizeResult {
  genMs: number;
  firstOpenMs: number;
  revisions: number;
  metaBytes: number;
  mode: string;
  startMs?: number;
  passMs?: number;
  passWallMs?: number;
  purged?: number;
  blocks?: number;
  before?: Latency;
  inPass?: Latency;
  purgedSoFar?: number;
  toPurge?: number;
  extrapolatedMs?: number;
}

async function gcSize(work: string, run: number, opts: Opts): Promise<SizeResult> {
  const files = opts.nodes;
  const tpl = await makeTemplate(work, `size-r${run}`, {
    files,
    revs: opts.revs,
    perFolder: opts['per-folder'],
    blockFiles: opts['block-files'],
  });
  const r: SizeResult = {
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
        if (rep.durationMs === Infinity) Object.assign(r, progressAt(tpl, rep.wallMs));
        r.purged = rep.purgedRevisions;
        r.blocks = rep.deletedBlocks;
        const { w0, w1 } = rep;
        r.before = latency(samples.filter((x) => x.w1 < w0));
        r.inPass = latency(samples.filter((x) => x.w1 >= w0 && x.w0 <= w1));
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
          Object.assign(r, progressAt(tpl, capMs - 60_000));
        } else {
          const p = passes[0]!;
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
function progressAt(
  tpl: Template,
  elapsedMs: number,
): { purgedSoFar: number; toPurge: number; extrapolatedMs: number } {
  const db = new Database(path.join(tpl.dir, 'meta.db'), { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 10000');
    const left = (db.prepare('SELECT COUNT(*) AS n FROM revisions').get() as { n: number }).n;
    const m = tpl.made;
    const toPurge =
      m.files * (m.revisions > m.files + m.folders ? (m.revisions - m.folders) / m.files - 1 : 0);
    const purgedSoFar = m.revisions + 1 - left;
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

interface ServerApi {
  url: string;
  agent: Agent;
  headers: Record<string, string>;
}

/** The server's view of a path: 'live', 'deleted' (tombstone or 404), or 'error'. */
async function serverNode(api: ServerApi, p: string): Promise<'live' | 'deleted' | 'error'> {
  const res = await request(`${api.url}/v1/node?path=${encodeURIComponent(p)}`, {
    headers: api.headers,
    dispatcher: api.agent,
  });
  const text = await res.body.text();
  if (res.statusCode === 404) return 'deleted';
  if (res.statusCode !== 200) return 'error';
  return (JSON.parse(text) as { deleted?: boolean }).deleted ? 'deleted' : 'live';
}

const countFiles = async (dir: string, folders: number): Promise<number> => {
  let n = 0;
  for (let f = 0; f < folders; f++) n += (await fsp.readdir(path.join(dir, `s${f}`)).catch(() => [])).length;
  return n;
};

interface RmResult {
  files: number;
  folders: number;
  writeMs: number;
  createCommitMs: number;
  createListedMs: number;
  rmMs: number;
  serverMs: number;
  pendingMs: number;
  bListMs: number;
  bStatMs: number;
  committedMs: number;
  bGoneMs: number;
}

async function rmCase(
  a: LoftMount,
  b: LoftMount,
  api: ServerApi,
  top: string,
  files: number,
  folders: number,
): Promise<RmResult> {
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
  const writeMs = performance.now() - t;
  log(
    `rm-rf ${files} files: written on A in ${(writeMs / 1000).toFixed(1)} s; waiting until committed and listed on B…`,
  );
  const committed = await pollUntil(async () => (await loftStatus(a)).pending === 0, {
    capMs: CREATE_CAP_MS,
    everyMs: 200,
  });
  const listed = await pollUntil(async () => (await countFiles(dB, folders)) === files, {
    capMs: CREATE_CAP_MS,
    everyMs: 500,
  });
  if (committed === Infinity || listed === Infinity)
    throw new Error(`rm-rf ${files}: set-up not done in ${CREATE_CAP_MS / 60_000} min`);
  const createCommitMs = committed - t;
  const createListedMs = listed - t;
  await sleep(1000);

  // The rm.
  t = performance.now();
  await execFileP('rm', ['-rf', dA], { timeout: RM_WAIT_CAP_MS });
  const t0 = performance.now();
  const since = (at: number): number => (at === Infinity ? Infinity : at - t0);
  const wait = { capMs: RM_WAIT_CAP_MS, everyMs: RM_POLL_MS, from: t0 };
  const [server, pending, bList, bStat] = await Promise.all([
    pollUntil(async () => (await serverNode(api, `/${top}`)) === 'deleted', wait),
    pollUntil(async () => (await loftStatus(a)).pending === 0, wait),
    pollUntil(async () => !(await fsp.readdir(b.mnt)).includes(top), wait),
    pollUntil(
      () =>
        fsp.stat(dB).then(
          () => false,
          () => true,
        ),
      wait,
    ),
  ]);
  const r: RmResult = {
    files,
    folders,
    writeMs,
    createCommitMs,
    createListedMs,
    rmMs: t0 - t,
    serverMs: since(server),
    pendingMs: since(pending),
    bListMs: since(bList),
    bStatMs: since(bStat),
    committedMs: 0,
    bGoneMs: 0,
  };
  r.committedMs = Math.max(r.serverMs, r.pendingMs);
  r.bGoneMs = Math.max(r.bListMs, r.bStatMs);
  log(
    `rm-rf ${files} files: rm ${fmt(r.rmMs)} ms; then committed ${fmt(r.committedMs)} ms, gone on B ${fmt(r.bGoneMs)} ms`,
  );
  return r;
}

async function rmRf(work: string, run: number, opts: Opts): Promise<RmResult[]> {
  const dir = path.join(work, `rm-r${run}`);
  fs.mkdirSync(dir);
  const data = path.join(dir, 'server-data');
  fs.mkdirSync(data);
  const srv = await startServer(data, []);
  const agent = new Agent({ connections: 1 });
  let a: LoftMount | undefined;
  let b: LoftMount | undefined;
  try {
    const tokenA = await deviceToken(data, 'add', 'bench');
    const [tokenB, tokenWatch] = await Promise.all([
      deviceToken(data, 'token', 'bench', 'devB'),
      deviceToken(data, 'token', 'bench', 'watcher'),
    ]);
    const api: ServerApi = { url: srv.url, agent, headers: { authorization: `Bearer ${tokenWatch}` } };
    [a, b] = await Promise.all([
      mountLoft({ url: srv.url, token: tokenA }, dir, 'A'),
      mountLoft({ url: srv.url, token: tokenB }, dir, 'B'),
    ]);
    const cases = [RM_SMALL, { files: opts['rm-files'], folders: opts['rm-folders'] }];
    const out: RmResult[] = [];
    for (const [i, c] of cases.entries()) {
      if (i > 0 && c.files === RM_SMALL.files && c.folders === RM_SMALL.folders) continue;
      out.push(await rmCase(a, b, api, `rmrf-${c.files}`, c.files, c.folders));
    }
    return out;
  } finally {
    for (const m of [b, a]) if (m) await m.stop().catch((err: Error) => log(`rm-rf: ${err.message}`));
    await agent.destroy().catch(() => {});
    await killChild(srv.child, SERVER_STOP_GRACE_MS);
    if (!mountsBelow(dir).length) fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---- report -----------------------------------------------------------------------------------------------------

type Row<T> = [string, (r: T) => number | undefined, Unit, number?];

function table<T>(out: string[], title: string, rows: Row<T>[], results: T[]): void {
  out.push(`\n### ${title}\n`);
  out.push('| metric | median | runs | unit | bar | met? |\n|---|---:|---|---|---|---|');
  for (const [label, get, unit, bar] of rows) {
    const vals = results.map(get).map((v) => (v === undefined ? NaN : v));
    if (vals.every((v) => Number.isNaN(v))) continue;
    const m = vals.some((v) => v === Infinity) ? Infinity : median(vals);
    const met =
      bar === undefined ? '—' : Number.isFinite(m) ? (m <= bar ? 'met' : '**not met**') : '**not met**';
    out.push(
      `| ${label} | ${fmt(m, unit)} | ${vals.map((v) => fmt(v, unit)).join(', ')} | ${unit} | ${bar === undefined ? '—' : `≤ ${fmt(bar, unit)}`} | ${met} |`,
    );
  }
}

const latRows = <T>(l: (r: T) => Latency | undefined, label: string, bar?: number): Row<T>[] => [
  [`${label}: p50`, (r) => l(r)?.p50, 'ms'],
  [`${label}: p99`, (r) => l(r)?.p99, 'ms', bar],
  [`${label}: max`, (r) => l(r)?.max, 'ms'],
  [`${label}: requests`, (r) => l(r)?.n, 'count'],
  [`${label}: failed requests`, (r) => l(r)?.errors, 'count'],
];

// ---- main ----------------------------------------------------------------------------------------------------------

runBench('gc', async ({ work }) => {
  const opts: Opts = parseFlags(
    process.argv.slice(2),
    {
      only: [...SCENARIOS] as string[],
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
    },
    USAGE,
    { only: SCENARIOS, 'gc-size-in': ['cli', 'serve'] },
  );
  if (opts.revs < 2) log('note: --revs 1 leaves GC nothing to purge');
  const want = (s: Scenario): boolean => opts.only.includes(s);
  const command = `node scripts/bench/gc.mjs ${process.argv.slice(2).join(' ')}`.trim();
  const lat: LatencyResult[] = [];
  const size: SizeResult[] = [];
  const rm: RmResult[][] = [];
  const errors: string[] = [];
  for (let run = 1; run <= opts.runs; run++) {
    for (const s of SCENARIOS) {
      if (!want(s)) continue;
      log(`run ${run}/${opts.runs}: ${s}`);
      try {
        if (s === 'gc-latency') lat.push(await gcLatency(work, run, opts));
        else if (s === 'gc-size') size.push(await gcSize(work, run, opts));
        else rm.push(await rmRf(work, run, opts));
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        log(`run ${run}: ${s} failed: ${msg}`);
        errors.push(`${s} run ${run}: ${msg}`);
      }
    }
  }

  const cpus = os.cpus();
  const out: string[] = [`## Loft GC benchmark (issue 18)\n\ncommand: \`${command}\``];
  if (lat.length) {
    table<LatencyResult>(
      out,
      `gc-latency: ${fmt(opts.files, 'count')} files × ${opts.revs} revisions (${fmt(lat[0]!.revisions, 'count')} revisions), ` +
        `GET /v1/node of random files for ${opts.seconds} s, ${opts.concurrency} sequential client(s)`,
      [
        ['generating the namespace (rows + indexes + block files)', (r) => r.genMs / 1000, 's'],
        [
          'first open of the generated db: `loft user token` process, spawn to exit',
          (r) => r.firstOpenMs,
          'ms',
        ],
        ['`loft serve` start-up to "listening on"', (r) => r.startMs, 'ms'],
        ...latRows<LatencyResult>((r) => r.base, 'no GC (`--gc-interval 0`)'),
        ...latRows<LatencyResult>(
          (r) => r.gc,
          `\`--keep-days 0 --gc-interval ${GC_INTERVAL_LATENCY}\`, whole window (see note)`,
        ),
        ...latRows<LatencyResult>((r) => r.inPass, 'requests that overlapped a GC pass (bar a)', 200),
        ['GC passes started within the window', (r) => r.passesInWindow, 'count'],
        [
          'first pass in the server (under load for its first part)',
          (r) => (r.firstPassMs ?? NaN) / 1000,
          's',
        ],
        ['first pass: revisions purged', (r) => r.firstPassPurged, 'count'],
        ['first pass: blocks deleted', (r) => r.firstPassBlocks, 'count'],
        ['later passes (nothing to purge), median', (r) => (r.laterPassMs ?? NaN) / 1000, 's'],
        ['`loft gc --keep-days 0 --json` alone, no load', (r) => (r.cliPassMs ?? NaN) / 1000, 's'],
        ['`loft gc`: revisions purged', (r) => r.cliPurged, 'count'],
        ['`loft gc`: blocks deleted', (r) => r.cliBlocks, 'count'],
      ],
      lat,
    );
  }
  if (size.length) {
    const inCli = opts['gc-size-in'] === 'cli';
    const sizeRows: Row<SizeResult>[] = [
      ['generating the namespace (rows + indexes)', (r) => r.genMs / 1000, 's'],
      ['meta.db size', (r) => r.metaBytes / 2 ** 20, 'MiB'],
      [
        'first open of the generated db: `loft user token` process, spawn to exit',
        (r) => r.firstOpenMs,
        'ms',
      ],
      ['`loft serve` start-up to "listening on"', (r) => r.startMs, 'ms'],
      ['one GC pass (its durationMs)', (r) => (r.passMs ?? NaN) / 1000, 's'],
      ...(inCli
        ? [['`loft gc` process, spawn to exit', (r) => (r.passWallMs ?? NaN) / 1000, 's'] as Row<SizeResult>]
        : []),
      ['revisions purged', (r) => r.purged, 'count'],
      ['pass cut off at --gc-cap: revisions it had purged', (r) => r.purgedSoFar, 'count'],
      ['pass cut off at --gc-cap: revisions to purge in all', (r) => r.toPurge, 'count'],
      [
        'pass cut off at --gc-cap: retention phase extrapolated at that rate',
        (r) => (r.extrapolatedMs ?? NaN) / 1000,
        's',
      ],
      ['blocks deleted', (r) => r.blocks, 'count'],
      ...latRows<SizeResult>((r) => r.before, 'GET /v1/node before the pass'),
      ...latRows<SizeResult>((r) => r.inPass, 'GET /v1/node during the pass'),
    ];
    table<SizeResult>(
      out,
      `gc-size: ${fmt(opts.nodes, 'count')} files × ${opts.revs} revisions (${fmt(size[0]!.revisions, 'count')} revisions, ` +
        `${fmt(opts.nodes + Math.ceil(opts.nodes / opts['per-folder']), 'count')} nodes), ` +
        (inCli
          ? '`loft gc --keep-days 0 --json` beside `loft serve --gc-interval 0` under load'
          : `the server's own pass (\`--keep-days 0 --gc-interval ${GC_SIZE_SERVE_INTERVAL}\`) under load`) +
        `${opts['block-files'] ? ', block files present' : ', no block files (deletes hit missing files)'}`,
      sizeRows,
      size,
    );
  }
  if (rm.length) {
    for (const [i] of rm[0]!.entries()) {
      const rs = rm.map((cases) => cases[i]).filter((r): r is RmResult => !!r);
      const { files, folders } = rs[0]!;
      const isBar = files === RM_SMALL.files && folders === RM_SMALL.folders;
      table<RmResult>(
        out,
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
    `machine: node ${process.version}, ${cpus[0]?.model.trim() ?? 'unknown cpu'}, nproc ${cpus.length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM (${os.platform()} ${os.release()}); load ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
    'latency: sequential GET /v1/node?path=<random file> per client over a keep-alive connection (undici), nearest-rank percentiles; "runs" lists every run',
    'whole window vs during a pass: a sequential client makes thousands of fast requests while no pass runs and one per stall while one does, so a percentile over the whole window hides the stalls; bar (a) is checked on the requests that overlapped a pass',
    'data generated by scripts/bench/gc-populate.ts straight into meta.db (see there); revisions 3 days old; keep-days 0',
  ];
  for (const e of errors) notes.push(`failed: ${e}`);
  out.push(`\n${notes.map((l) => `- ${l}`).join('\n')}`);
  process.stdout.write(`${out.join('\n')}\n`);
  if (errors.length) process.exitCode = 1;
});
