/** A node's POSIX stat, as the drive reports it (device-local times, owner, nlink, st_ino). */
import type { NodeKind } from '../../shared/protocol.js';
import type { MirrorNode } from '../mirror/mirror.js';
import { FsError } from '../../shared/errors.js';
import type { DirtyFile } from './dirty-files.js';

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFMT = 0o170000;

/**
 * Largest file the drive holds: ext4's limit with 4 KiB blocks (16 TiB), where staging files
 * usually live. A truncate or write past it answers EFBIG, as a local file system does.
 */
export const MAX_FILE_SIZE = 2 ** 44;

/** truncate(2)'s size checks, as Linux makes them: negative EINVAL, past the largest file EFBIG. */
export function checkSize(size: number): void {
  if (size < 0 || !Number.isInteger(size)) throw new FsError('EINVAL', `bad size ${size}`);
  if (size > MAX_FILE_SIZE) throw new FsError('EFBIG', `${size} bytes is more than the drive holds`);
}

export interface Stat {
  mode: number;
  size: number;
  nlink: number;
  uid: number;
  gid: number;
  mtime: Date;
  atime: Date;
  ctime: Date;
  blocks: number;
  blksize: number;
  ino: number;
}

export interface StatFs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail: number;
  namemax: number;
}

/** A node's st_mode: its file type (folder, symlink or regular file) and permission bits. */
export function fileMode(kind: NodeKind, mode: number): number {
  const type = kind === 'dir' ? S_IFDIR : (mode & S_IFMT) === S_IFLNK ? S_IFLNK : S_IFREG;
  return type | (mode & 0o7777);
}

/**
 * Packs a node's stat: `dirty` is its local changes (size, mtime, ctime move with writes at once,
 * and the mode set while it is written),
 * `subdirs` how many folders a folder holds (its nlink), uid/gid the mount owner's.
 */
export function packStat(
  node: MirrorNode,
  dirty: DirtyFile | undefined,
  subdirs: number,
  uid: number,
  gid: number,
): Stat {
  const d = node.kind === 'file' ? dirty : undefined;
  const t = new Date(d ? d.mtime : node.mtime);
  const isDir = node.kind === 'dir';
  const size = isDir ? 4096 : d ? d.size : node.size;
  return {
    mode: fileMode(node.kind, d?.mode ?? node.mode),
    size,
    // A folder: its own entry, its "." and each subfolder's "..", as on ext4 (find relies on it).
    nlink: isDir ? 2 + subdirs : 1,
    uid,
    gid,
    mtime: t,
    atime: node.atime === null ? t : new Date(node.atime),
    // A write here moves the ctime at once (the node's ctime follows with the commit point).
    ctime: new Date(d ? Math.max(node.ctime, d.ctime) : node.ctime),
    // Report the full size as allocated: tools that treat blocks < size as "sparse" would
    // otherwise skip or mangle cloud-only data. `loft status` and xattrs tell what is local.
    blocks: Math.ceil(size / 512),
    blksize: 4096,
    // Keys are stable (never remapped) and never reused. Negative: a temporary id of mirrors made
    // before schema v7, kept as its key.
    ino: node.id < 0 ? 0x7fffffff + -node.id : node.id,
  };
}

/** statfs(2) of the drive: the cloud's bytes plus the cache's room; free = what the cache can take. */
export function packStatFs(
  { bytes, files }: { bytes: number; files: number },
  { usedBytes, capBytes }: { usedBytes: number; capBytes: number },
): StatFs {
  const bsize = 4096;
  const free = Math.max(0, capBytes - usedBytes);
  return {
    bsize,
    frsize: bsize,
    blocks: Math.ceil((bytes + capBytes) / bsize),
    bfree: Math.floor(free / bsize),
    bavail: Math.floor(free / bsize),
    files: files + 1_000_000,
    ffree: 1_000_000,
    favail: 1_000_000,
    namemax: 255,
  };
}
