#!/usr/bin/env node
// How much the content indexer stalls the server (issue 16). One process: a real server
// (startServer, embedded SQLite + disk blocks, loopback) on the main thread, whose event-loop
// delay is sampled (perf_hooks.monitorEventLoopDelay) and whose index transactions are timed;
// a worker thread plays a `tar x` into a drive: --files small text files (1-16 KiB, one in 50 of
// --big KiB), each a block PUT and a commit, --conc at once. Printed: the burst's duration, the
// event-loop delay (p50/p99/max) during the burst and during the catch-up after it, the longest
// index transaction, and how long after the burst's last commit the index had caught up.
// --no-index runs the same burst with the indexer idle (its backlog hidden), for comparison.
// Usage: node scripts/bench/content-stall.mjs [--files 5000] [--conc 8] [--big 256] [--no-index]
// Needs a build (npx tsc -p .).
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const WORDS = ['config', 'parse', 'buffer', 'index', 'return', 'const', 'value', 'error', 'stream', 'client'];
function textOf(i, bytes) {
  const lines = [];
  let n = 0;
  for (let l = 0; n < bytes; l++) {
    const w = (k) => WORDS[(i * 7 + l * 13 + k) % WORDS.length];
    const line = `  ${w(0)}_${w(1)}(${w(2)}, ${l * 31 + i}); // ${w(3)} ${w(4)} f${i}`;
    lines.push(line);
    n += line.length + 1;
  }
  return lines.join('\n');
}

if (!isMainThread) {
  // The drive: PUT each block, then commit it, `conc` files at once.
  const { url, token, files, conc, big } = workerData;
  const auth = { authorization: `Bearer ${token}` };
  let next = 0;
  const one = async (i) => {
    const kb = i % 50 === 7 ? big : 1 + ((i * 37) % 16);
    const data = Buffer.from(textOf(i, kb * 1024));
    const hash = createHash('sha256').update(data).digest('hex');
    let r = await fetch(`${url}/v1/blocks/${hash}`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/octet-stream' },
      body: data,
    });
    if (!r.ok) throw new Error(`PUT ${r.status} ${await r.text()}`);
    r = await fetch(`${url}/v1/commit`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        path: `/src/d${i % 40}/f${i}.c`,
        parentRev: null,
        blocks: [{ hash, size: data.length }],
        size: data.length,
        mtime: 1,
        mode: 0o644,
      }),
    });
    if (!r.ok) throw new Error(`commit ${r.status} ${await r.text()}`);
  };
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (next < files) await one(next++);
    }),
  );
  parentPort.postMessage({ ms: performance.now() - t0 });
} else {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  const arg = (name, dflt) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : dflt;
  };
  const files = Number(arg('files', '5000'));
  const conc = Number(arg('conc', '8'));
  const big = Number(arg('big', '256'));
  const noIndex = process.argv.includes('--no-index');
  const { openDataDir, startServer } = await import(`${root}/dist/src/server/server.js`);
  const { newToken, hashToken } = await import(`${root}/dist/src/server/tokens.js`);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'loft-bench-stall-'));
  try {
    const stores = openDataDir(tmp, { owner: true });
    const meta = stores.meta;
    const user = await meta.createUser('alice', Date.now());
    const token = newToken();
    await meta.addDevice(user.id, 'bench', hashToken(token), null, Date.now());
    let longest = 0;
    let slices = 0;
    const times = [];
    const apply = meta.applyContentIndex.bind(meta);
    const cpus = [];
    meta.applyContentIndex = async (...a) => {
      const c = process.cpuUsage();
      const s = performance.now();
      await apply(...a);
      const d = process.cpuUsage(c);
      cpus.push((d.user + d.system) / 1000);
      longest = Math.max(longest, performance.now() - s);
      times.push(performance.now() - s);
      slices++;
    };
    const backlog = meta.contentBacklog.bind(meta);
    if (noIndex) meta.contentBacklog = async () => [];
    const server = await startServer({ stores, host: '127.0.0.1', port: 0, logLevel: 'error' });
    const h = monitorEventLoopDelay({ resolution: 1 });
    const ms = (ns) => (ns / 1e6).toFixed(1);
    const show = (label) =>
      `${label}: event-loop delay p50 ${ms(h.percentile(50))} ms, p99 ${ms(h.percentile(99))} ms, max ${ms(h.max)} ms`;
    h.enable();
    const worker = new Worker(fileURLToPath(import.meta.url), {
      workerData: { url: server.url, token, files, conc, big },
    });
    const burst = await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    const burstEnd = performance.now();
    const slicesInBurst = slices;
    h.disable();
    console.log(
      `${files} files (conc ${conc}${noIndex ? ', indexer idle' : ''}): burst ${(burst.ms / 1000).toFixed(2)} s ` +
        `(${((files / burst.ms) * 1000).toFixed(0)} files/s); index slices during it ${slices}`,
    );
    console.log(show('  during the burst'));
    if (!noIndex) {
      h.reset();
      h.enable();
      while ((await backlog(1)).length > 0) await new Promise((r) => setTimeout(r, 5));
      h.disable();
      times.sort((a, b) => a - b);
      const q = (p, xs = times) => xs[Math.min(xs.length - 1, Math.floor(xs.length * p))].toFixed(1);
      const after = cpus.slice(slicesInBurst).sort((a, b) => a - b);
      console.log(
        `  index caught up ${((performance.now() - burstEnd) / 1000).toFixed(2)} s after the burst; ${slices} slices: ` +
          `p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, longest ${longest.toFixed(1)} ms, over 50 ms: ${times.filter((x) => x > 50).length}`,
      );
      // CPU time of the process per transaction after the burst (the client worker is idle then):
      // the work itself, without the time the thread waited for a core on a loaded machine.
      console.log(
        `  CPU per transaction after the burst: p50 ${q(0.5, after)} ms, p99 ${q(0.99, after)} ms, max ${after.at(-1)?.toFixed(1)} ms, over 50 ms: ${after.filter((x) => x > 50).length}`,
      );
      console.log(show('  during the catch-up'));
    }
    await server.close();
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
