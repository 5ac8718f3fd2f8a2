// The server's block ingest alone: N distinct random 1 MiB blocks PUT to a fresh `loft serve`
// (embedded SQLite + local block store, 127.0.0.1) with C requests in flight, through the drive's own
// RemoteClient, no chunking, no FUSE. Prints MB/s and the CPU time the server and this process used
// during the PUTs (utime + stime; load-independent enough to compare changes on a shared machine).
// Usage: node scripts/bench/ingest.mjs [--blocks 1024] [--conc 8] [--runs 3]
import { createHash, randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { RemoteClient } from '../../src/client/remote/remote-client.js';
import { MiB, parseFlags } from './lib/cli.js';
import { startLoftServer } from './lib/loft.js';
import { runBench } from './lib/main.js';
import { cpuPressure, machineLoad, median } from './lib/report.js';

const USAGE = 'usage: node scripts/bench/ingest.mjs [--blocks N] [--conc N] [--runs N]';

/** CPU time (utime + stime) of a process, ms at the usual 100 Hz. */
function cpuMs(pid: number): number {
  const f = (fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

interface Row {
  mbps: number;
  serverCpuMs: number;
  clientCpuMs: number;
  pressure: number;
}

runBench('ingest', async ({ work, log }) => {
  const opts = parseFlags(process.argv.slice(2), { blocks: 1024, conc: 8, runs: 3 }, USAGE);
  const rows: Row[] = [];
  for (let run = 1; run <= opts.runs; run++) {
    const dir = path.join(work, `run-${run}`);
    const srv = await startLoftServer(dir);
    const rc = new RemoteClient({ url: srv.url, token: srv.token });
    try {
      const blocks = Array.from({ length: opts.blocks }, () => {
        const b = randomFillSync(Buffer.allocUnsafe(MiB));
        return { b, h: createHash('sha256').update(b).digest('hex') };
      });
      const pid = srv.process.pid!;
      const s0 = cpuMs(pid);
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: opts.conc }, async () => {
          while (next < blocks.length) {
            const x = blocks[next++]!;
            await rc.putBlock(x.h, x.b);
          }
        }),
      );
      const ms = performance.now() - t0;
      const c = process.cpuUsage(c0);
      const row = {
        mbps: (opts.blocks * MiB) / ms / 1000,
        serverCpuMs: cpuMs(pid) - s0,
        clientCpuMs: (c.user + c.system) / 1000,
        pressure: cpuPressure(),
      };
      rows.push(row);
      log(
        `run ${run}: ${row.mbps.toFixed(0)} MB/s, server cpu ${row.serverCpuMs} ms, client cpu ${row.clientCpuMs.toFixed(0)} ms (cpu pressure ${row.pressure}%)`,
      );
    } finally {
      await rc.close();
      await srv.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  const m = (k: keyof Row): number => median(rows.map((r) => r[k]));
  process.stdout.write(
    `${opts.blocks} × 1 MiB, ${opts.conc} in flight, median of ${opts.runs}: ${m('mbps').toFixed(0)} MB/s; per GiB: server cpu ${((m('serverCpuMs') * 1024) / opts.blocks / 1000).toFixed(1)} s, client cpu ${((m('clientCpuMs') * 1024) / opts.blocks / 1000).toFixed(1)} s\n` +
      `${machineLoad()}\n`,
  );
});
