// The local path of a create, in process (issue 17 item 2): a Vfs on a real server (loopback), no
// FUSE, N × (mkdir, create, 4 KiB write, close); prints each call's median and p90 (ms). What it
// shows is the drive's own cost per call; the smallfiles bench adds the kernel's round trips.
// Usage: node scripts/bench/vfs-ops.mjs [N=300]   (LOFT_BENCH_DIST: another build than dist/, same API)
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { UsageError } from './lib/cli.js';
import { REPO_ROOT } from './lib/loft.js';
import { runBench } from './lib/main.js';
import { track } from './lib/proc.js';
import { machineLoad } from './lib/report.js';

const USAGE = 'usage: node scripts/bench/vfs-ops.mjs [N]';
const DIST = process.env.LOFT_BENCH_DIST ?? path.join(REPO_ROOT, 'dist');
const load = <T>(rel: string): Promise<T> => import(pathToFileURL(path.join(DIST, rel)).href) as Promise<T>;

runBench('vfs-ops', async ({ work }) => {
  const arg = process.argv[2] ?? '300';
  if (!/^[1-9]\d*$/.test(arg)) throw new UsageError(`${USAGE} (bad "${arg}")`);
  const N = Number(arg);
  // Typed against this checkout's sources; loaded from DIST (the build being measured).
  const { openDriveCore } = await load<typeof import('../../src/client/client.js')>('src/client/client.js');
  const { silentLogger } = await load<typeof import('../../src/shared/log.js')>('src/shared/log.js');
  const { ServerProcess } = await load<typeof import('../../test/helpers/server-process.js')>(
    'test/helpers/server-process.js',
  );
  const server = new ServerProcess();
  track({ stop: () => server.dispose() });
  await server.start(60_000);
  const token = await server.addUser('b');
  const core = await openDriveCore({
    server: server.url,
    token,
    state: path.join(work, 'state'),
    cacheBytes: 64 << 20,
    log: silentLogger(),
  });
  track({ stop: () => core.close() });
  const vfs = core.vfs;
  const buf = Buffer.alloc(4096, 7);
  const times: Record<'mkdir' | 'create' | 'write' | 'release', number[]> = {
    mkdir: [],
    create: [],
    write: [],
    release: [],
  };
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
  const med = (a: number[]) => a.sort((x, y) => x - y)[a.length >> 1]!.toFixed(2);
  const p90 = (a: number[]) => a.sort((x, y) => x - y)[Math.floor(a.length * 0.9)]!.toFixed(2);
  for (const [k, v] of Object.entries(times)) console.log(k, 'median', med(v), 'p90', p90(v), 'ms');
  console.log(machineLoad());
});
