#!/usr/bin/env node
// Benchmark of POST /v1/batch against single requests, on a real `loft serve` process over
// loopback HTTP (undici, keep-alive): N small creates (default 1,000 files of 1 KiB, in one folder)
// made in each of these ways, each run by a fresh user (its own namespace):
//
//   single, sequential     PUT the block, then POST /v1/commit; one file after the other
//   single, 8 in parallel  the same, 8 files at a time
//   commit only            POST /v1/commit one after the other, blocks PUT beforehand (untimed)
//   batch, inline          POST /v1/batch of --batch ops, content inline (no PUT at all)
//   batch, blocks PUT      blocks PUT beforehand (untimed), POST /v1/batch referencing them
//
// Usage: node scripts/bench/batch.mjs [--runs 3] [--files 1000] [--batch 100] [--size 1024]
// Needs a build (npm run build). A discarded warm-up round comes first. Prints the median of the
// runs and every run's value; progress goes to stderr.
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const LOFT_BIN = path.join(ROOT, 'bin', 'loft.js');
const PARALLEL = 8;

function parseArgs(argv) {
  const opts = { runs: 3, files: 1000, batch: 100, size: 1024 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.split('=', 2);
    const key = flag.replace(/^--/, '');
    const value = inline ?? argv[++i];
    if (!flag.startsWith('--') || !(key in opts) || !/^[1-9]\d*$/.test(value ?? ''))
      throw new Error(
        `usage: node scripts/bench/batch.mjs [--runs N] [--files N] [--batch N] [--size BYTES] (bad "${arg}")`,
      );
    opts[key] = Number(value);
  }
  if (opts.batch > 1000) throw new Error('--batch: at most 1000 ops per batch');
  if (opts.size > 65536) throw new Error('--size: at most 65536 bytes (the inline limit)');
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

// ---- server process ----------------------------------------------------------------------------

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'loft-bench-batch-'));
let child = null;

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

let users = 0;
/** Creates a user with the real CLI; the device token is the last line of its stdout. */
async function addUser() {
  const args = [LOFT_BIN, 'user', 'add', `u${users++}`, '--data', dataDir];
  const { stdout } = await promisify(execFile)(process.execPath, args);
  return stdout.trim().split('\n').pop();
}

// ---- HTTP -----------------------------------------------------------------------------------------

const agent = new Agent({ keepAliveTimeout: 60_000, keepAliveMaxTimeout: 600_000, connections: 16 });
let requests = 0;

async function call(base, token, method, urlPath, { json, bytes } = {}) {
  const headers = { authorization: `Bearer ${token}` };
  let body;
  if (json !== undefined) ((headers['content-type'] = 'application/json'), (body = JSON.stringify(json)));
  if (bytes !== undefined) ((headers['content-type'] = 'application/octet-stream'), (body = bytes));
  requests++;
  const res = await request(base + urlPath, { method, headers, body, dispatcher: agent });
  const text = await res.body.text();
  if (res.statusCode >= 300)
    throw new Error(`${method} ${urlPath} -> ${res.statusCode}: ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

function makeFiles(n) {
  return Array.from({ length: n }, (_, i) => {
    const data = randomBytes(opts.size);
    return { name: `f${i}`, data, hash: createHash('sha256').update(data).digest('hex') };
  });
}
const commitOp = (f) => ({
  path: `/d/${f.name}`,
  parentRev: null,
  blocks: [{ hash: f.hash, size: f.data.length }],
  size: f.data.length,
  mtime: Date.now(),
});
const put = (api, f) => api('PUT', `/v1/blocks/${f.hash}`, { bytes: f.data });

async function inParallel(items, n, fn) {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: n }, async () => {
      for (let x = queue.shift(); x !== undefined; x = queue.shift()) await fn(x);
    }),
  );
}

function chunks(xs, n) {
  const out = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

/** Each way: set-up (untimed), then the timed part. Returns ms and the requests it sent. */
const WAYS = {
  'single, sequential': {
    timed: async (api, files) => {
      for (const f of files) (await put(api, f), await api('POST', '/v1/commit', { json: commitOp(f) }));
    },
  },
  [`single, ${PARALLEL} in parallel`]: {
    timed: (api, files) =>
      inParallel(files, PARALLEL, async (f) => {
        await put(api, f);
        await api('POST', '/v1/commit', { json: commitOp(f) });
      }),
  },
  'commit only (blocks PUT before)': {
    setup: (api, files) => inParallel(files, PARALLEL, (f) => put(api, f)),
    timed: async (api, files) => {
      for (const f of files) await api('POST', '/v1/commit', { json: commitOp(f) });
    },
  },
  [`batch of ${opts.batch}, inline`]: {
    timed: async (api, files) => {
      for (const group of chunks(files, opts.batch)) {
        const ops = group.map((f) => ({ op: 'commit', ...commitOp(f), inline: f.data.toString('base64') }));
        const r = await api('POST', '/v1/batch', { json: { ops } });
        if (r.results.some((x) => x.error)) throw new Error(JSON.stringify(r.results.find((x) => x.error)));
      }
    },
  },
  [`batch of ${opts.batch} (blocks PUT before)`]: {
    setup: (api, files) => inParallel(files, PARALLEL, (f) => put(api, f)),
    timed: async (api, files) => {
      for (const group of chunks(files, opts.batch)) {
        const r = await api('POST', '/v1/batch', {
          json: { ops: group.map((f) => ({ op: 'commit', ...commitOp(f) })) },
        });
        if (r.results.some((x) => x.error)) throw new Error(JSON.stringify(r.results.find((x) => x.error)));
      }
    },
  },
};

async function once(base, way, n) {
  const token = await addUser();
  const api = (method, p, o) => call(base, token, method, p, o);
  await api('POST', '/v1/mkdir', { json: { path: '/d' } });
  const files = makeFiles(n);
  if (way.setup) await way.setup(api, files);
  const before = requests;
  const t0 = performance.now();
  await way.timed(api, files);
  const ms = performance.now() - t0;
  const sent = requests - before;
  const tree = await api('GET', '/v1/list?path=/d');
  if (tree.entries.length !== n)
    throw new Error(`expected ${n} files on the server, found ${tree.entries.length}`);
  return { ms, requests: sent };
}

// ---- main -----------------------------------------------------------------------------------------

try {
  const base = await startServer();
  log(`loft serve at ${base}; ${opts.files} files of ${opts.size} B, ${opts.runs} runs (+ warm-up)`);
  for (const way of Object.values(WAYS)) await once(base, way, Math.min(100, opts.files));
  const results = {};
  for (let run = 1; run <= opts.runs; run++) {
    // Ways interleaved per run, so a slow moment of the machine spreads over all of them.
    for (const [name, way] of Object.entries(WAYS)) {
      const r = await once(base, way, opts.files);
      (results[name] ??= []).push(r);
      log(`run ${run}: ${name}: ${r.ms.toFixed(0)} ms, ${r.requests} requests`);
    }
  }
  const rows = Object.entries(results).map(([name, rs]) => {
    const ms = median(rs.map((r) => r.ms));
    return {
      way: name,
      requests: rs[0].requests,
      ms,
      perFile: (ms * 1000) / opts.files,
      filesPerS: (opts.files / ms) * 1000,
      runs: rs.map((r) => r.ms.toFixed(0)).join(' / '),
    };
  });
  const base0 = rows[0].ms;
  console.log(
    `\n${opts.files} creates of ${opts.size} B files, loopback, median of ${opts.runs} runs (node ${process.version}, ${os.cpus().length} CPUs)\n`,
  );
  const header = ['way', 'requests', 'total ms', 'µs/file', 'files/s', 'vs single seq', 'runs (ms)'];
  const lines = rows.map((r) => [
    r.way,
    String(r.requests),
    r.ms.toFixed(0),
    r.perFile.toFixed(0),
    r.filesPerS.toFixed(0),
    `${(base0 / r.ms).toFixed(1)}×`,
    r.runs,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  console.log(fmt(header));
  console.log(`|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
  for (const l of lines) console.log(fmt(l));
} finally {
  await agent.close();
  await cleanup();
}
