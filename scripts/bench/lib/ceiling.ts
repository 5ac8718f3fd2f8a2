/**
 * The ceilings: what a drive could at best do on this machine. `ext4` is a directory on the local
 * disk; `startCeilingFs` mounts scripts/bench/passthrough-fs.ts, the smallest fuse-native filesystem
 * that serves a local directory, with exactly the -o options a fuse-native `loft mount` passes
 * (MOUNT_OPTIONS, imported from the drive: they cannot drift apart).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMounted, unmount } from './mounts.js';
import { firstLine, killChild, pollUntil, startChild, track, untrack, type Child } from './proc.js';

/** The compiled passthrough-fs.js, next to this library's parent in dist/. */
export const PASSTHROUGH = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'passthrough-fs.js');
/** The compiled passthrough-rw-fs.js: the writable ceiling (write bench). */
export const PASSTHROUGH_RW = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  'passthrough-rw-fs.js',
);
const MOUNT_READY_MS = 30_000;

/** What both ceiling file systems answer to statfs (a large, mostly free disk). */
export const CEILING_STATFS = {
  bsize: 4096,
  frsize: 4096,
  blocks: 1 << 28,
  bfree: 1 << 27,
  bavail: 1 << 27,
  files: 1e6,
  ffree: 1e6,
  favail: 1e6,
  fsid: 0,
  flag: 0,
  namemax: 255,
};

/** The drive's -o options on fuse-native; LOFT_BENCH_FUSE_OPTS (comma-separated) to try others. */
export async function ceilingFuseOptions(): Promise<string[]> {
  if (process.env.LOFT_BENCH_FUSE_OPTS !== undefined)
    return process.env.LOFT_BENCH_FUSE_OPTS.split(',').filter(Boolean);
  // Imported when a ceiling mounts: the module loads the fuse-native addon.
  const { MOUNT_OPTIONS } = await import('../../../src/client/fuse/fuse-mount.js');
  return [...MOUNT_OPTIONS];
}

export interface CeilingFs {
  readonly sys: 'ceiling';
  readonly child: Child;
  readonly mnt: string;
  readonly options: readonly string[];
  /** Stops it; resolves with what it printed on stderr (its op counters when asked for). */
  stop(): Promise<void>;
}

/**
 * passthrough-fs of `src` at `mnt` (made if missing), `extraArgs` after its own;
 * `env` adds to the environment (PASSTHROUGH_* switches, see passthrough-fs.ts); `program`: another
 * ceiling with the same command line (PASSTHROUGH_RW).
 */
export async function startCeilingFs(
  src: string,
  mnt: string,
  {
    extraArgs = [],
    env = {},
    program = PASSTHROUGH,
  }: { extraArgs?: readonly string[]; env?: NodeJS.ProcessEnv; program?: string } = {},
): Promise<CeilingFs> {
  fs.mkdirSync(mnt, { recursive: true });
  const options = await ceilingFuseOptions();
  const child = startChild(
    'ceiling fs',
    process.execPath,
    [program, src, mnt, '--opts', options.join(','), ...extraArgs],
    { env: { ...process.env, ...env } },
  );
  const c: CeilingFs = {
    sys: 'ceiling',
    child,
    mnt,
    options,
    stop: async () => {
      untrack(c);
      await killChild(child, 10_000);
      if (!(await unmount(mnt))) throw new Error(`could not unmount ${mnt}`);
    },
  };
  track(c);
  try {
    await pollUntil(
      'ceiling fs mount',
      () => {
        if (child.exit !== null)
          throw new Error(`passthrough-fs exited (${child.exit}): ${firstLine(child.stderr)}`);
        return /^mounted /m.test(child.stdout) && isMounted(mnt);
      },
      MOUNT_READY_MS,
      20,
    );
  } catch (err) {
    await c.stop().catch(() => {});
    throw err;
  }
  return c;
}
