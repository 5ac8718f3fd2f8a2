#!/usr/bin/env node
// The local path of a create, in process (issue 17 item 2): a Vfs on a real server (loopback), no
// FUSE, N × (mkdir, create, 4 KiB write, close); prints each call's median and p90 (ms). What it
// shows is the drive's own cost per call; the smallfiles bench adds the kernel's round trips.
// Usage: node scripts/bench/vfs-ops.mjs [N=300]   (LOFT_BENCH_DIST: another build than dist/)
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
const D =
  process.env.LOFT_BENCH_DIST ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist');
const { openDriveCore } = await import(`${D}/src/client/client.js`);
const { silentLogger } = await import(`${D}/src/shared/log.js`);
const { ServerProcess } = await import(`${D}/test/helpers/server-process.js`);
const server = new ServerProcess();
await server.start();
const token = await server.addUser('b');
const state = mkdtempSync(path.join(os.tmpdir(), 'vb-'));
const core = await openDriveCore({
  server: server.url,
  token,
  state,
  cacheBytes: 64 << 20,
  log: silentLogger(),
});
const vfs = core.vfs;
const buf = Buffer.alloc(4096, 7);
const N = Number(process.argv[2] ?? 300);
const { performance } = await import('node:perf_hooks');
const times = { mkdir: [], create: [], write: [], release: [] };
for (let i = 0; i < N; i++) {
  let t0 = performance.now();
  await vfs.mkdir(`/d${i}`, 0o755);
  times.mkdir.push(performance.now() - t0);
  t0 = performance.now();
  const fh = await vfs.create(`/f${i}`, 0o644);
  times.create.push(performance.now() - t0);
  t0 = performance.now();
  await vfs.write(fh, buf, 0);
  times.write.push(performance.now() - t0);
  t0 = performance.now();
  await vfs.flush(fh);
  await vfs.release(fh);
  times.release.push(performance.now() - t0);
}
const med = (a) => a.sort((x, y) => x - y)[a.length >> 1].toFixed(2);
const p90 = (a) => a.sort((x, y) => x - y)[Math.floor(a.length * 0.9)].toFixed(2);
for (const [k, v] of Object.entries(times)) console.log(k, 'median', med(v), 'p90', p90(v), 'ms');
await core.close();
await server.dispose();
process.exit(0);
