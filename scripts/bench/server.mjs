#!/usr/bin/env node
// Benchmark of a real `loft serve` process over loopback HTTP (undici, keep-alive).
// Usage: node scripts/bench/server.mjs [--runs 5] [--commits 2000] [--polls 300]
// Needs a build (npm run build). One server and data dir for the whole benchmark; every run uses a
// fresh user (its own namespace, so each run's journal starts empty). A discarded warm-up run
// comes first. Prints the median across runs and every run's value; progress goes to stderr.
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const LOFT_BIN = path.join(ROOT, 'bin', 'loft.js');
const BLOCK = 4096;
const PARALLEL = 8;
const POLL_SETTLE_MS = 10; // lets the long-poll reach the server and register before the commit

function parseArgs(argv) {
  const opts = { runs: 5, commits: 2000, polls: 300 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.split('=', 2);
    const key = flag.replace(/^--/, '');
    const value = inline ?? argv[++i];
    if (!flag.startsWith('--') || !(key in opts) || !/^[1-9]\d*$/.test(value ?? ''))
      throw new Error(
        `usage: node scripts/bench/server.mjs [--runs N] [--commits N] [--polls N] (bad "${arg}")`,
      );
    opts[key] = Number(value);
  }
  return opts;
}

let opts;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (err) {
  console.error(err.message);
  process.exit(2);
}
if (!existsSync(path.join(ROOT, 'dist', 'src', 'cli', 'main.js'))) {
  console.error('loft bench: dist/ is missing (no dist/src/cli/main.js); run npm run build first');
  process.exit(2);
}
const { Agent, request } = await import('undici');

const log = (msg) => process.stderr.write(`${msg}\n`);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

// ---- server process ----------------------------------------------------------------------------

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'loft-bench-'));
let child = null;
let serverExit = '';

async function startServer() {
  child = spawn(process.execPath, [LOFT_BIN, 'serve', '--data', dataDir, '--listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`loft serve did not start in 20 s: ${err}`)), 20_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) (clearTimeout(timer), resolve(m[1]));
    });
    child.once('exit', (code, signal) => {
      serverExit = `loft serve exited (${code ?? signal})`;
      clearTimeout(timer);
      reject(new Error(`loft serve exited (${code ?? signal}): ${err.trim()}`));
    });
  });
}

async function cleanup() {
  const c = child;
  child = null;
  if (c && c.exitCode === null && c.signalCode === null) {
    const exited = new Promise((resolve) => c.once('exit', resolve));
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
  rmSync(dataDir, { recursive: true, force: true });
}

/** Creates a user with the real CLI; the device token is the last line of its stdout. */
async function addUser(name) {
  const args = [LOFT_BIN, 'user', 'add', name, '--data', dataDir];
  const { stdout } = await promisify(execFile)(process.execPath, args);
  return stdout.trim().split('\n').pop();
}

// ---- HTTP -----------------------------------------------------------------------------------------

const agentOpts = { keepAliveTimeout: 60_000, keepAliveMaxTimeout: 600_000 };
const commitAgent = new Agent(agentOpts); // the committing client (and the other measurements)
const pollAgent = new Agent(agentOpts); // the long-polling client: its own connection pool

async function call(base, token, method, urlPath, { json, bytes, agent = commitAgent } = {}) {
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  let body;
  if (json !== undefined) ((headers['content-type'] = 'application/json'), (body = JSON.stringify(json)));
  if (bytes !== undefined) ((headers['content-type'] = 'application/octet-stream'), (body = bytes));
  const res = await request(base + urlPath, { method, headers, body, dispatcher: agent });
  const text = await res.body.text();
  if (res.statusCode >= 300)
    throw new Error(`${method} ${urlPath} -> ${res.statusCode}: ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

function makeBlocks(n) {
  return Array.from({ length: n }, () => {
    const data = randomBytes(BLOCK);
    return { data, hash: createHash('sha256').update(data).digest('hex') };
  });
}
function commitBody(file, { hash }) {
  return { path: file, parentRev: null, blocks: [{ hash, size: BLOCK }], size: BLOCK, mtime: Date.now() };
}

// ---- one run --------------------------------------------------------------------------------------

async function run(base, token, commits, polls) {
  const api = (method, p, o) => call(base, token, method, p, o);
  const r = {};
  const pre = makeBlocks(2 * commits + polls); // uploaded untimed: commit-only loops and polls
  const fresh = makeBlocks(commits); // uploaded inside the timed upload+commit loop
  for (const b of pre) await api('PUT', `/v1/blocks/${b.hash}`, { bytes: b.data });

  let t = performance.now();
  for (let i = 0; i < commits; i++)
    await api('POST', '/v1/commit', { json: commitBody(`/seq/f${i}`, pre[i]) });
  r.commitSeq = commits / ((performance.now() - t) / 1000);

  t = performance.now();
  for (let i = 0; i < commits; i++) {
    await api('PUT', `/v1/blocks/${fresh[i].hash}`, { bytes: fresh[i].data });
    await api('POST', '/v1/commit', { json: commitBody(`/up/f${i}`, fresh[i]) });
  }
  r.uploadCommitSeq = commits / ((performance.now() - t) / 1000);

  let next = 0;
  const worker = async (w) => {
    for (let i; (i = next++) < commits;)
      await api('POST', '/v1/commit', { json: commitBody(`/par/w${w}/f${i}`, pre[commits + i]) });
  };
  t = performance.now();
  await Promise.all(Array.from({ length: PARALLEL }, (_, w) => worker(w)));
  r.commitPar = commits / ((performance.now() - t) / 1000);

  let entries = 0;
  let cursor = '';
  t = performance.now();
  for (let more = true; more;) {
    const page = await api('GET', `/v1/changes?limit=1000${cursor && `&cursor=${cursor}`}`);
    entries += page.entries.length;
    cursor = page.cursor;
    more = page.hasMore;
  }
  r.journal = entries / ((performance.now() - t) / 1000);
  r.journalEntries = entries;

  const fromSend = [];
  const fromReply = [];
  for (let i = 0; i < polls; i++) {
    const poll = call(base, token, 'GET', `/v1/changes/wait?cursor=${cursor}&timeout=30`, {
      agent: pollAgent,
    }).then((page) => ({ page, at: performance.now() }));
    poll.catch(() => {}); // handled when awaited below; avoids an unhandled rejection meanwhile
    await sleep(POLL_SETTLE_MS);
    const t0 = performance.now();
    await api('POST', '/v1/commit', { json: commitBody(`/poll/f${i}`, pre[2 * commits + i]) });
    const t1 = performance.now();
    const { page, at } = await poll;
    if (page.entries.length === 0) throw new Error('long-poll answered without entries (timed out?)');
    fromSend.push(at - t0);
    fromReply.push(at - t1);
    cursor = page.cursor;
  }
  const stats = (key, xs) => {
    const s = xs.sort((a, b) => a - b);
    Object.assign(r, { [`${key}P50`]: pct(s, 50), [`${key}P99`]: pct(s, 99), [`${key}Max`]: s.at(-1) });
  };
  stats('wakeSend', fromSend);
  stats('wakeReply', fromReply);

  const n = Math.max(commits, 1000);
  t = performance.now();
  for (let i = 0; i < n; i++) await call(base, null, 'GET', '/v1/health');
  r.health = n / ((performance.now() - t) / 1000);
  return r;
}

// ---- main -----------------------------------------------------------------------------------------

const ROWS = [
  ['commitSeq', 'commit only, sequential (4 KiB file, block pre-uploaded)', 'commits/s', 0],
  ['uploadCommitSeq', 'upload+commit, sequential (PUT block + POST commit)', 'files/s', 0],
  ['commitPar', `commit only, ${PARALLEL} parallel clients`, 'commits/s', 0],
  ['wakeSendP50', 'long-poll wake, commit sent → poll answered, p50', 'ms', 2],
  ['wakeSendP99', 'long-poll wake, commit sent → poll answered, p99', 'ms', 2],
  ['wakeSendMax', 'long-poll wake, commit sent → poll answered, max', 'ms', 2],
  ['wakeReplyP50', 'long-poll wake, commit answered → poll answered, p50', 'ms', 2],
  ['wakeReplyP99', 'long-poll wake, commit answered → poll answered, p99', 'ms', 2],
  ['wakeReplyMax', 'long-poll wake, commit answered → poll answered, max', 'ms', 2],
  ['journal', 'journal read, GET /v1/changes pages of 1000', 'entries/s', 0],
  ['health', 'ceiling: GET /v1/health round-trip, sequential', 'requests/s', 0],
];

process.once('SIGINT', () => cleanup().finally(() => process.exit(130)));
let exitCode = 0;
try {
  const base = await startServer();
  log(`loft bench: server at ${base}, data in ${dataDir}`);
  log('warm-up run (discarded)…');
  await run(base, await addUser('warmup'), Math.min(300, opts.commits), Math.min(30, opts.polls));
  const results = [];
  for (let i = 1; i <= opts.runs; i++) {
    log(`run ${i}/${opts.runs}…`);
    results.push(await run(base, await addUser(`bench${i}`), opts.commits, opts.polls));
  }
  const fmt = (v, d) => v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
  const cpus = os.cpus();
  console.log(
    `Loft server benchmark: ${opts.runs} runs × ${opts.commits} commits, ${opts.polls} long-polls, ` +
      `${results[0].journalEntries} journal entries per run (median across runs)\n`,
  );
  console.log('| metric | median | runs (all values) | unit |\n|---|---:|---|---|');
  for (const [key, label, unit, d] of ROWS) {
    const vals = results.map((r) => r[key]);
    console.log(
      `| ${label} | ${fmt(median(vals), d)} | ${vals.map((v) => fmt(v, d)).join(', ')} | ${unit} |`,
    );
  }
  console.log(
    `\nmachine: node ${process.version}, ${cpus[0]?.model.trim() ?? 'unknown cpu'}, ${cpus.length} cores (${os.platform()} ${os.release()})`,
  );
} catch (err) {
  await sleep(100); // lets a dead server's exit event arrive, to name it in the message
  console.error(`loft bench: ${err.message}${serverExit && ` (${serverExit})`}`);
  exitCode = 1;
} finally {
  await Promise.all([commitAgent.destroy(), pollAgent.destroy()]).catch(() => {});
  await cleanup();
}
process.exit(exitCode);
