/**
 * Cleanup of the test S3 servers (test/helpers/s3.ts) whose test process died before its teardown:
 * run at each start and by tap's after script (test/helpers/postgres-stop.ts), so that an aborted
 * run leaves no Ceph daemon behind for long.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Where the servers' dirs are (`loft-s3-<owner pid>-<random>`). */
export function s3Base(): string {
  return process.getuid?.() === 0 ? '/tmp' : os.tmpdir();
}

/** Kills the daemons listed in `dir/pids` that still run from `dir`, then removes `dir`. */
export function killDir(dir: string): void {
  const pidsFile = path.join(dir, 'pids');
  if (existsSync(pidsFile)) {
    for (const line of readFileSync(pidsFile, 'utf8').split('\n')) {
      const pid = Number(line);
      if (!pid) continue;
      try {
        // A pid may have been reused since: only a process started with this dir's config.
        if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir)) continue;
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
  rmSync(dir, { recursive: true, force: true });
}

/** Dirs of test processes that died before their teardown. */
export function sweepS3Orphans(): void {
  const base = s3Base();
  for (const name of readdirSync(base)) {
    const m = /^loft-s3-(\d+)-/.exec(name);
    if (!m) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') killDir(path.join(base, name));
    }
  }
}
