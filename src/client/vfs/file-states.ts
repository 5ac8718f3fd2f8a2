/**
 * FileStates: what each file is on this device, as the extended attributes tell it (`user.loft.state`:
 * cloud, partial, cached, pinned, dirty, uploading; `user.loft.rev`; `user.loft.cached_bytes`).
 */
import type { DiskBlockCache } from '../cache/disk-block-cache.js';
import type { Mirror, MirrorNode } from '../mirror/mirror.js';
import type { DirtyFiles } from './dirty-files.js';

export type FileState = 'cloud' | 'partial' | 'cached' | 'pinned' | 'dirty' | 'uploading' | 'conflict';

export const XATTR_STATE = 'user.loft.state';
export const XATTR_REV = 'user.loft.rev';
export const XATTR_CACHED = 'user.loft.cached_bytes';
const FILE_XATTRS = [XATTR_STATE, XATTR_REV, XATTR_CACHED];

export class FileStates {
  readonly #mirror: Mirror;
  readonly #dirty: DirtyFiles;
  readonly #cache: DiskBlockCache;
  readonly #uploading: { readonly id: number | null };

  constructor(
    mirror: Mirror,
    dirty: DirtyFiles,
    cache: DiskBlockCache,
    uploading: { readonly id: number | null },
  ) {
    this.#mirror = mirror;
    this.#dirty = dirty;
    this.#cache = cache;
    this.#uploading = uploading;
  }

  xattrNames(node: MirrorNode): string[] {
    return node.kind === 'file' ? FILE_XATTRS : [XATTR_STATE, XATTR_REV];
  }

  /** The attribute's value, or null when the node has no such attribute (ENODATA). */
  xattr(node: MirrorNode, name: string): Buffer | null {
    switch (name) {
      case XATTR_STATE:
        return Buffer.from(this.state(node));
      case XATTR_REV:
        return Buffer.from(String(node.rev));
      case XATTR_CACHED:
        return node.kind === 'file' ? Buffer.from(String(this.cachedBytes(node))) : null;
      default:
        return null;
    }
  }

  /** What a node is here. */
  state(node: MirrorNode): FileState {
    if (node.kind === 'file' && (node.id === this.#uploading.id || (node.serverId === null && !node.staging)))
      return 'uploading';
    if (node.kind === 'file' && (node.staging || this.#dirty.get(node.id))) return 'dirty';
    if (this.#mirror.isPinned(node.id)) return 'pinned';
    if (node.kind === 'dir') return 'cloud';
    const cached = this.cachedBytes(node);
    if (cached >= node.size) return 'cached';
    return cached === 0 ? 'cloud' : 'partial';
  }

  cachedBytes(node: MirrorNode): number {
    const d = this.#dirty.get(node.id);
    if (d) return d.size; // dirty content is all local (staged, or base blocks read through the cache)
    return this.#cache.cachedBytes(this.#mirror.blocks(node.id));
  }
}
