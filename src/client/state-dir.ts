/**
 * The state directory of one drive, and the checks made before mounting.
 *
 *   <state>/config.json   server URL + device token (mode 0600), so later mounts need only --state
 *   <state>/mirror.db     the tree mirror (Mirror)
 *   <state>/cache/        the block cache (DiskBlockCache)
 *   <state>/mount.json    {pid, mountpoint, socket} of the running mount; lock + how to reach it
 *   <state>/control.sock  control socket (when the path is short enough for a UNIX socket)
 *
 * A registry entry per running mount (`<runtime dir>/loft-mounts/<id>.json`) lets `loft pin PATH`
 * find the mount that contains PATH without being told its state directory.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statfsSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LoftError } from '../shared/errors.js';

export interface StateConfig {
  server: string;
  token: string;
  /** PEM file of a private CA the server's certificate chains to (`loft mount --ca`). */
  ca?: string;
}

export interface MountRecord {
  pid: number;
  mountpoint: string;
  socket: string;
  state: string;
}

export function defaultStateDir(): string {
  const base = process.env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state');
  return path.join(base, 'loft');
}

function registryDir(): string {
  return path.join(process.env.XDG_RUNTIME_DIR || os.tmpdir(), `loft-mounts-${process.getuid?.() ?? 0}`);
}

export function readConfig(state: string): StateConfig | null {
  try {
    return JSON.parse(readFileSync(path.join(state, 'config.json'), 'utf8')) as StateConfig;
  } catch {
    return null;
  }
}

export function writeConfig(state: string, config: StateConfig): void {
  const file = path.join(state, 'config.json');
  writeFileSync(file + '.tmp', JSON.stringify(config, null, 2), { mode: 0o600 });
  chmodSync(file + '.tmp', 0o600);
  renameSync(file + '.tmp', file);
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function readMountRecord(state: string): MountRecord | null {
  try {
    return JSON.parse(readFileSync(path.join(state, 'mount.json'), 'utf8')) as MountRecord;
  } catch {
    return null;
  }
}

/** A UNIX socket path must fit in sun_path (108 bytes); long state paths use the runtime dir. */
export function controlSocketPath(state: string): string {
  const p = path.join(state, 'control.sock');
  if (Buffer.byteLength(p) < 100) return p;
  const id = createHash('sha256').update(state).digest('hex').slice(0, 16);
  mkdirSync(registryDir(), { recursive: true, mode: 0o700 });
  return path.join(registryDir(), `${id}.sock`);
}

/** Claims the state directory for this process; refuses if a live mount holds it. */
export function lockState(state: string, record: MountRecord): void {
  const prev = readMountRecord(state);
  if (prev && prev.pid !== process.pid && pidAlive(prev.pid)) {
    throw new LoftError(
      'EXISTS',
      `state directory ${state} is in use by a running loft mount (pid ${prev.pid}) at ${prev.mountpoint}`,
    );
  }
  writeFileSync(path.join(state, 'mount.json'), JSON.stringify(record));
  mkdirSync(registryDir(), { recursive: true, mode: 0o700 });
  writeFileSync(registryFile(record.mountpoint), JSON.stringify(record));
}

export function unlockState(state: string, record: MountRecord): void {
  const cur = readMountRecord(state);
  if (cur?.pid === record.pid) rmSync(path.join(state, 'mount.json'), { force: true });
  rmSync(registryFile(record.mountpoint), { force: true });
}

function registryFile(mountpoint: string): string {
  return path.join(
    registryDir(),
    createHash('sha256').update(mountpoint).digest('hex').slice(0, 16) + '.json',
  );
}

/** Running mounts known to this user (dead entries are skipped). */
export function runningMounts(): MountRecord[] {
  const dir = registryDir();
  if (!existsSync(dir)) return [];
  const out: MountRecord[] = [];
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.json')) continue;
    try {
      const r = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as MountRecord;
      if (pidAlive(r.pid)) out.push(r);
    } catch {
      // ignore a torn entry
    }
  }
  return out;
}

/** The mount table (/proc/self/mounts) as mount point → file system type. */
export function parseMounts(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const [, dir, type] = line.split(' ');
    // Space, tab, newline and backslash in a mount point are written as \ooo (octal).
    if (dir && type)
      out.set(
        dir.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))),
        type,
      );
  }
  return out;
}

function isMountpoint(dir: string): boolean {
  try {
    return parseMounts(readFileSync('/proc/self/mounts', 'utf8')).has(dir);
  } catch {
    return false;
  }
}

/**
 * Checks the mountpoint before mounting: it must exist, be an empty directory and not be mounted.
 * A stale FUSE mount (ENOTCONN: the process serving it died) is cleared when `clearStale` is set or
 * when it was left by a crashed mount of this same state directory; otherwise the error says how.
 */
export function preflightMountpoint(
  mountpoint: string,
  options: { clearStale: boolean; ownStale: boolean },
): string[] {
  const notes: string[] = [];
  let st;
  try {
    st = statSync(mountpoint);
    // A mount whose server died answers stat from the kernel's attribute cache while it lasts (a
    // listing from the kernel's readdir cache leaves the folder's attributes valid); statfs always
    // asks the server, so it is what says ENOTCONN.
    if (isMountpoint(mountpoint)) statfsSync(mountpoint);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTCONN' || code === 'ECONNABORTED') {
      if (!options.clearStale && !options.ownStale) {
        throw new LoftError(
          'EXISTS',
          `${mountpoint} holds a stale mount from a crashed run; rerun with --clear-stale (or: fusermount -uz ${mountpoint})`,
        );
      }
      execFileSync('fusermount', ['-uz', mountpoint], { stdio: 'ignore' });
      notes.push(`cleared a stale mount left at ${mountpoint} by a crashed run`);
      st = statSync(mountpoint);
    } else if (code === 'ENOENT') {
      throw new LoftError('NOT_FOUND', `mountpoint ${mountpoint} does not exist (create it with mkdir)`);
    } else {
      throw new LoftError('BAD_REQUEST', `cannot use mountpoint ${mountpoint}: ${(err as Error).message}`);
    }
  }
  if (!st.isDirectory()) throw new LoftError('NOT_DIR', `mountpoint ${mountpoint} is not a directory`);
  if (isMountpoint(mountpoint)) {
    throw new LoftError(
      'EXISTS',
      `${mountpoint} is already a mount point (unmount it first: fusermount -u ${mountpoint})`,
    );
  }
  if (readdirSync(mountpoint).length > 0)
    throw new LoftError('NOT_EMPTY', `mountpoint ${mountpoint} is not empty`);
  return notes;
}
