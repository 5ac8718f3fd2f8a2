/**
 * FUSE mounts as /proc/mounts sees them, and unmounting that does not give up on a busy or dead
 * mount (fusermount -u, then -uz, then umount -l).
 */
import fs from 'node:fs';
import { execFileP } from './proc.js';

function mountedPaths(): string[] {
  return fs
    .readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) =>
      (l.split(' ')[1] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))),
    );
}

export const isMounted = (mnt: string): boolean => mountedPaths().includes(mnt);

/** Mounts below `dir` (what a bench left behind, if anything). */
export const mountsBelow = (dir: string): string[] =>
  mountedPaths().filter((m) => m === dir || m.startsWith(`${dir}/`));

/** Unmounts `mnt`; true once it is gone. */
export async function unmount(mnt: string): Promise<boolean> {
  for (const args of [['-u'], ['-uz']]) {
    if (!isMounted(mnt)) return true;
    await execFileP('fusermount', [...args, mnt]).catch(() => {});
  }
  if (isMounted(mnt)) await execFileP('umount', ['-l', mnt]).catch(() => {});
  return !isMounted(mnt);
}
