/**
 * Folder listings of the Vfs: readdir (names with full stats, for readdirplus and in-process
 * callers), list (names and modes: a listing through the kernel carries only each entry's type) and
 * the stamp the mount checks the kernel's cached listing against (fuse/dir-handles.ts).
 */
import type { Mirror, MirrorNode } from '../mirror/mirror.js';
import { fileMode, S_IFDIR, type Stat } from './stat.js';

/** A folder's names and each entry's mode ('.' and '..' first). */
export interface Listing {
  names: string[];
  modes: number[];
}

/**
 * Which listing of which folder: equal stamps mean the same names and types. `key` is the folder's
 * local key, `version` its mirror listing version (mirror/listing-versions.ts).
 */
export interface ListingStamp {
  key: number;
  version: number;
}

export function readdirOf(mirror: Mirror, dir: MirrorNode, stat: (n: MirrorNode) => Stat) {
  const children = mirror.children(dir.id);
  const parent = dir.parentId === null ? dir : (mirror.node(dir.parentId) ?? dir);
  return {
    names: ['.', '..', ...children.map((c) => c.name)],
    stats: [stat(dir), stat(parent), ...children.map((c) => stat(c))],
  };
}

/** The folder at `dirPath` for a read through the kernel (remembers its children's paths, see Mirror.entries). */
export function listOf(mirror: Mirror, dir: MirrorNode, dirPath: string): Listing {
  const children = mirror.entries(dir.id, dirPath);
  return {
    names: ['.', '..', ...children.map((c) => c.name)],
    modes: [S_IFDIR | 0o755, S_IFDIR | 0o755, ...children.map((c) => fileMode(c.kind, c.mode))],
  };
}

export function stampOf(mirror: Mirror, dir: MirrorNode): ListingStamp {
  return { key: dir.id, version: mirror.listingVersion(dir.id) };
}
