/**
 * The frame of every benchmark: parse flags (a UsageError prints the usage line, exit 2), run, and
 * on the way out, whatever happened (error, Ctrl-C, SIGTERM), stop every mount, server and child
 * the bench started and check that no mount is left behind in its work directory. Progress goes to
 * stderr, results to stdout.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UsageError } from './cli.js';
import { mountsBelow, unmount } from './mounts.js';
import { messageOf, shutdown } from './proc.js';
import { logger } from './report.js';

export interface BenchContext {
  /** A fresh directory under the OS temp dir, removed at the end unless `keepWork()`. */
  readonly work: string;
  readonly log: (msg: string) => void;
  /** Keep the work directory (e.g. --keep). */
  keepWork(): void;
}

/** Runs `main` as the bench `name` (exit code 0, 1 on error, 2 on bad flags, 130/143 on signals). */
export function runBench(name: string, main: (ctx: BenchContext) => Promise<void>): void {
  const log = logger(name);
  let keep = false;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `loft-bench-${name}-`));
  let cleaning: Promise<void> | null = null;
  const clean = (): Promise<void> =>
    (cleaning ??= (async () => {
      await shutdown();
      for (const m of mountsBelow(work)) {
        log(`left mounted, unmounting: ${m}`);
        await unmount(m);
      }
      if (!keep && !mountsBelow(work).length) fs.rmSync(work, { recursive: true, force: true });
      else log(`work dir kept: ${work}`);
    })());
  process.once('SIGINT', () => void clean().then(() => process.exit(130)));
  process.once('SIGTERM', () => void clean().then(() => process.exit(143)));
  // The smoke tests read this line to check that nothing stays mounted below this run's directory.
  log(`work dir ${work}`);
  const ctx: BenchContext = { work, log, keepWork: () => (keep = true) };
  main(ctx)
    .catch((err: unknown) => {
      if (err instanceof UsageError) {
        process.stderr.write(`${err.message}\n`);
        process.exitCode = 2;
      } else {
        log(messageOf(err));
        if (process.env.LOFT_BENCH_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
        process.exitCode = 1;
      }
    })
    .then(clean)
    .catch((err: unknown) => {
      log(`clean-up: ${messageOf(err)}`);
      process.exitCode = 1;
    })
    // Everything this bench started is stopped: exit now rather than when the last timer of a
    // library (a drive core's retry or keep-alive timer, a client's idle socket) runs out, which
    // kept some benches alive 15 s after their table. stdout and stderr are synchronous on pipes
    // and files on Linux: nothing printed is lost.
    .then(() => process.exit());
}
