/**
 * What a FUSE mount needs from the system around it, outside the FUSE protocol: the mount's
 * readahead (sysfs, as root) and an unmount as an ordinary user (fusermount3, or fuse's fusermount).
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { Timers } from '../../shared/clock.js';

/**
 * Sets the readahead (KiB) of the mount at `mountpoint` through its bdi in sysfs (needs root).
 * False when the mount is not in /proc/self/mountinfo. Sends no request to the mount.
 */
export async function setReadahead(mountpoint: string, kb: number): Promise<boolean> {
  // mountinfo: "id parent major:minor root mountpoint …".
  const line = (await readFile('/proc/self/mountinfo', 'utf8'))
    .split('\n')
    .find((l) => unescapeMount(l.split(' ')[4] ?? '') === mountpoint);
  const dev = line?.split(' ')[2];
  if (!dev) return false;
  await writeFile(`/sys/class/bdi/${dev}/read_ahead_kb`, String(kb));
  return true;
}

/** A mountinfo path field: spaces, tabs, newlines and backslashes are octal escapes (\\040). */
const unescapeMount = (field: string): string =>
  field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** Unmounts as a user (lazy: the loop ends when the kernel releases the connection). */
export async function fusermountUnmount(mountpoint: string): Promise<void> {
  const run = promisify(execFile);
  try {
    await run('fusermount3', ['-u', '-z', '--', mountpoint]);
  } catch {
    await run('fusermount', ['-u', '-z', '--', mountpoint]);
  }
}

/** Timers that do not keep the process alive (the cached-read accounting's drain). */
export const unrefTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};
