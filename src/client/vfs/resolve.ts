/** Paths to mirror nodes, with the errors Linux gives for paths that do not resolve. */
import { FsError } from '../../shared/errors.js';
import { MAX_NAME_BYTES } from '../../shared/paths.js';
import type { MirrorNode } from '../mirror/mirror.js';

interface Lookup {
  lookup(path: string): MirrorNode | null;
}

/** The node at `path`; ENAMETOOLONG, ENOTDIR or ENOENT (as Linux would say) when there is none. */
export function resolvePath(mirror: Lookup, path: string): MirrorNode {
  const node = mirror.lookup(path);
  if (!node) notFound(mirror, path);
  return node;
}

function notFound(mirror: Lookup, path: string): never {
  const parts = path.split('/').filter(Boolean);
  let at = '';
  for (const [i, part] of parts.entries()) {
    if (Buffer.byteLength(part) > MAX_NAME_BYTES) throw new FsError('ENAMETOOLONG', `name too long: ${path}`);
    at += '/' + part;
    const n = mirror.lookup(at);
    if (!n) break;
    if (n.kind !== 'dir' && i < parts.length - 1) throw new FsError('ENOTDIR', `${at} is not a directory`);
  }
  throw new FsError('ENOENT', `${path} does not exist`);
}

/** The existing parent directory of `path` and the new name. */
export function parentOf(mirror: Lookup, path: string): { parent: MirrorNode; name: string } {
  const cut = path.lastIndexOf('/');
  const name = path.slice(cut + 1);
  if (!name || name === '.' || name === '..') throw new FsError('EINVAL', `bad name in ${path}`);
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) throw new FsError('ENAMETOOLONG', `name too long: ${path}`);
  const parent = resolvePath(mirror, cut === 0 ? '/' : path.slice(0, cut));
  if (parent.kind !== 'dir') throw new FsError('ENOTDIR', `${path.slice(0, cut)} is not a directory`);
  return { parent, name };
}

/** The folder at `path`; ENOTDIR when it is something else. */
export function dirAt(mirror: Lookup, path: string): MirrorNode {
  const dir = resolvePath(mirror, path);
  if (dir.kind !== 'dir') throw new FsError('ENOTDIR', `${path} is not a directory`);
  return dir;
}
