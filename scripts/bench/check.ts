// `loft check` at size: how long the whole check takes on a drive of --files files, answered by a
// running mount (control socket snapshot) and by a stopped drive (a copy of its mirror), and how
// long the mount's snapshot holds its event loop.
// Usage: node scripts/bench/check.mjs [--files 100000] [--per-folder 1000] [--runs 3]
// Needs a build (npx tsc -p .). The namespace is written straight into a fresh meta.db by
// gc-populate.ts (one revision per file); the drive's first sync pulls it. The token stays in this
// process and the mount's environment (LOFT_TOKEN), never on a command line. Everything started is
// stopped and the work dir under /tmp removed. Progress → stderr, table → stdout.
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { MountProcess } from '../../test/helpers/mount-process.js';
import { LOFT_BIN, ServerProcess } from '../../test/helpers/server-process.js';
import { populate } from './gc-populate.js';
import { parseFlags } from './lib/cli.js';
import { runBench } from './lib/main.js';
import { unmount } from './lib/mounts.js';
import { execFileP, track } from './lib/proc.js';
import { machineLoad } from './lib/report.js';

const USAGE = 'usage: node scripts/bench/check.mjs [--files N] [--per-folder N] [--runs N]';
// The upper middle, as this bench has always taken.
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface CheckReport {
  summary: string;
  serverNodes: number;
  inSync: boolean;
}

runBench('check', async ({ work, log }) => {
  const opts = parseFlags(process.argv.slice(2), { files: 100_000, 'per-folder': 1000, runs: 3 }, USAGE);
  const { files, runs } = opts;
  const perFolder = opts['per-folder'];
  const data = path.join(work, 'data');
  fs.mkdirSync(data);

  /** `loft check --json` of the drive: its time and report (exit 1 = differences, still a report). */
  const check = async (state: string): Promise<{ ms: number; report: CheckReport }> => {
    const t0 = performance.now();
    let out: string;
    try {
      out = (
        await execFileP(process.execPath, [LOFT_BIN, 'check', '--state', state, '--json'], {
          maxBuffer: 1 << 30,
        })
      ).stdout;
    } catch (e) {
      const err = e as { code?: number; stdout?: string };
      if (err.code !== 1) throw e;
      out = err.stdout ?? '';
    }
    return { ms: performance.now() - t0, report: JSON.parse(out) as CheckReport };
  };

  // The user first, then the rows (nothing else has meta.db open), then the server.
  const server = new ServerProcess(data, ['--gc-interval', '0']);
  track({ stop: () => server.dispose() });
  const token = await server.addUser('bench');
  log(`populating ${files} files…`);
  await populate(data, { userName: 'bench', files, revs: 1, perFolder, blockFiles: false, log });
  await server.start(60_000);
  log('first sync of the drive…');
  let t0 = performance.now();
  const mount = new MountProcess(server.url, token, { root: path.join(work, 'drive') });
  track({
    stop: async () => {
      await mount.stop();
      await unmount(mount.mountpoint);
    },
  });
  await mount.start([], 600_000);
  const syncMs = performance.now() - t0;
  const running: { ms: number; report: CheckReport }[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await check(mount.state);
    running.push(r);
    log(`running mount: ${r.ms.toFixed(0)} ms: ${r.report.summary}`);
  }
  // How long one snapshot holds the mount (its control answer, nothing else).
  const snap: number[] = [];
  for (let i = 0; i < runs; i++) {
    t0 = performance.now();
    const { socket } = JSON.parse(fs.readFileSync(path.join(mount.state, 'mount.json'), 'utf8')) as {
      socket: string;
    };
    await execFileP('curl', ['-s', '-o', '/dev/null', '--unix-socket', socket, 'http://loft/snapshot']);
    snap.push(performance.now() - t0);
  }
  await mount.stop();
  await unmount(mount.mountpoint);
  const stopped: { ms: number; report: CheckReport }[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await check(mount.state);
    stopped.push(r);
    log(`stopped drive: ${r.ms.toFixed(0)} ms: ${r.report.summary}`);
  }
  await server.stop();
  const r = running[0]!.report;
  process.stdout.write(
    [
      `loft check, ${files.toLocaleString('en-US')} files in folders of ${perFolder} (${r.serverNodes.toLocaleString('en-US')} nodes), medians of ${runs}`,
      `| what | ms |`,
      `| --- | ---: |`,
      `| first sync of the drive (for scale) | ${syncMs.toFixed(0)} |`,
      `| loft check, running mount | ${median(running.map((x) => x.ms)).toFixed(0)} |`,
      `| GET /snapshot from the mount (curl) | ${median(snap).toFixed(0)} |`,
      `| loft check, stopped drive | ${median(stopped.map((x) => x.ms)).toFixed(0)} |`,
      `every run: running ${running.map((x) => x.ms.toFixed(0)).join(', ')}; snapshot ${snap.map((x) => x.toFixed(0)).join(', ')}; stopped ${stopped.map((x) => x.ms.toFixed(0)).join(', ')}`,
      `in sync: ${running.every((x) => x.report.inSync) && stopped.every((x) => x.report.inSync)}`,
      machineLoad(),
      '',
    ].join('\n'),
  );
});
