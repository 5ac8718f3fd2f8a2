#!/usr/bin/env node
// Share links and quotas against a real `loft serve` process over loopback (issue 13).
// Usage: node scripts/bench/links.mjs [--runs 3] [--mib 256] [--commits 1000]
// Needs a build (npm run build). Measures, per run:
// - a file link downloaded whole with curl (MB/s), against the same bytes fetched block by block
//   through the signed-in API (GET /v1/blocks/:hash, sequential: what a drive's cold read costs);
// - 64 KiB random ranges through the link (latency p50/p99);
// - the linked folder as a zip stream with curl (MB/s);
// - sequential commits of 4 KiB files (block pre-uploaded) for a user without and with a quota
//   (the quota check sums the owner's live files at each commit).
// Prints medians across runs and every run's values; progress goes to stderr.
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const LOFT_BIN = path.join(ROOT, 'bin', 'loft.js');
const execFileP = promisify(execFile);
const BLOCK = 4 * 1024 * 1024;
const RANGES = 200;

const opts = { runs: 3, mib: 256, commits: 1000 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const key = argv[i].replace(/^--/, '');
  if (!(key in opts) || !/^[1-9]\d*$/.test(argv[i + 1] ?? '')) {
    console.error('usage: node scripts/bench/links.mjs [--runs N] [--mib N] [--commits N]');
    process.exit(2);
  }
  opts[key] = Number(argv[i + 1]);
}
const log = (m) => process.stderr.write(`${m}\n`);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const pct = (s, p) => s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
const sha = (b) => createHash('sha256').update(b).digest('hex');

const data = mkdtempSync(path.join(os.tmpdir(), 'loft-bench-links-'));
const server = spawn(process.execPath, [LOFT_BIN, 'serve', '--data', data, '--listen', '127.0.0.1:0'], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const url = await new Promise((resolve) => {
  let out = '';
  server.stdout.on('data', (d) => {
    out += d;
    const m = /listening on (\S+)/.exec(out);
    if (m) resolve(m[1]);
  });
});
const agent = new Agent({ connections: 4 });
async function call(token, method, route, body, headers = {}) {
  const res = await request(url + route, {
    method,
    dispatcher: agent,
    headers: { authorization: `Bearer ${token}`, ...headers },
    body,
  });
  const raw = Buffer.from(await res.body.arrayBuffer());
  if (res.statusCode >= 300) throw new Error(`${method} ${route}: ${res.statusCode} ${raw}`);
  return raw;
}
const json = (token, route, obj) =>
  call(token, 'POST', route, JSON.stringify(obj), { 'content-type': 'application/json' }).then((r) =>
    JSON.parse(r.toString()),
  );
async function user(name) {
  const { stdout } = await execFileP(process.execPath, [LOFT_BIN, 'user', 'add', name, '--data', data]);
  return stdout.trim().split('\n').pop();
}

const results = {
  link: [],
  api: [],
  zip: [],
  rangeP50: [],
  rangeP99: [],
  commitNoQuota: [],
  commitQuota: [],
};
try {
  for (let run = 0; run < opts.runs; run++) {
    const token = await user(`u${run}`);
    log(`run ${run + 1}: uploading ${opts.mib} MiB`);
    const blocks = [];
    for (let i = 0; i < (opts.mib * 1024 * 1024) / BLOCK; i++) {
      const b = randomBytes(BLOCK);
      const hash = sha(b);
      await call(token, 'PUT', `/v1/blocks/${hash}`, b, { 'content-type': 'application/octet-stream' });
      blocks.push({ hash, size: b.length });
    }
    const size = blocks.length * BLOCK;
    await json(token, '/v1/commit', { path: '/share/big.bin', parentRev: null, blocks, size, mtime: 1 });
    const link = await json(token, '/v1/links', { path: '/share/big.bin' });
    const folder = await json(token, '/v1/links', { path: '/share' });

    let t0 = performance.now();
    await execFileP('curl', ['-sf', '-o', '/dev/null', url + link.path]);
    results.link.push(size / 1e6 / ((performance.now() - t0) / 1000));

    t0 = performance.now();
    for (const b of blocks) await call(token, 'GET', `/v1/blocks/${b.hash}`);
    results.api.push(size / 1e6 / ((performance.now() - t0) / 1000));

    t0 = performance.now();
    await execFileP('curl', ['-sf', '-o', '/dev/null', url + folder.path + '/?zip=1']);
    results.zip.push(size / 1e6 / ((performance.now() - t0) / 1000));

    const lat = [];
    for (let i = 0; i < RANGES; i++) {
      const start = Math.floor(Math.random() * (size - 65536));
      const s = performance.now();
      const res = await request(url + link.path, {
        dispatcher: agent,
        headers: { range: `bytes=${start}-${start + 65535}` },
      });
      await res.body.arrayBuffer();
      if (res.statusCode !== 206) throw new Error(`range: ${res.statusCode}`);
      lat.push(performance.now() - s);
    }
    lat.sort((a, b) => a - b);
    results.rangeP50.push(pct(lat, 50));
    results.rangeP99.push(pct(lat, 99));

    for (const quota of [false, true]) {
      const name = `c${run}${quota ? 'q' : 'n'}`;
      const tok = await user(name);
      if (quota) await execFileP(process.execPath, [LOFT_BIN, 'user', 'quota', name, '10G', '--data', data]);
      const b = randomBytes(4096);
      const hash = sha(b);
      await call(tok, 'PUT', `/v1/blocks/${hash}`, b, { 'content-type': 'application/octet-stream' });
      t0 = performance.now();
      for (let i = 0; i < opts.commits; i++)
        await json(tok, '/v1/commit', {
          path: `/f${i}`,
          parentRev: null,
          blocks: [{ hash, size: 4096 }],
          size: 4096,
          mtime: 1,
        });
      const rate = opts.commits / ((performance.now() - t0) / 1000);
      (quota ? results.commitQuota : results.commitNoQuota).push(rate);
    }
    log(
      `run ${run + 1}: ${JSON.stringify(Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.at(-1)])))}`,
    );
  }
} finally {
  server.kill('SIGTERM');
  await agent.close();
  rmSync(data, { recursive: true, force: true });
}
const f = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(2));
for (const [k, v] of Object.entries(results))
  console.log(`${k}: median ${f(median(v))} (runs: ${v.map(f).join(', ')})`);
