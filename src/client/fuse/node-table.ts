/**
 * The kernel's view of the tree for the low-level mount (lowlevel-mount.ts): each node id the
 * kernel holds is (parent id, name, Vfs key) with the kernel's lookup count; a node's path is its
 * parents' names. Ids are handed out here (the root is 1, FUSE_ROOT_ID) and dropped when the kernel
 * forgets them; a Vfs key seen again (the same file) gets the id it has, moved to its new name if
 * it moved. Changed only synchronously, by the request handlers.
 */
import { FsError } from '../../shared/errors.js';
import type { Stat, Vfs } from '../vfs/vfs.js';

/** FUSE_ROOT_ID. */
export const ROOT_ID = 1;

/**
 * A node id whose path now names another file or nothing the table knows (changed behind the
 * kernel's back): answered ESTALE, and the kernel looks the name up again.
 */
export class StaleNode extends Error {}

/** A node id the kernel holds. */
interface KNode {
  parent: number;
  name: string;
  /** Vfs key (Stat.ino) of the file this id names. */
  key: number;
  lookups: number;
}

export const childPath = (dir: string, name: string): string => (dir === '/' ? `/${name}` : `${dir}/${name}`);
const kidKey = (parent: number, name: string): string => `${parent}/${name}`;

export class NodeTable {
  readonly #nodes = new Map<number, KNode>([[ROOT_ID, { parent: 0, name: '', key: -1, lookups: 1 }]]);
  /** Vfs key → node id. */
  readonly #byKey = new Map<number, number>();
  /** "parent/name" → node id: the kernel's names, for kernel-cache.ts. */
  readonly #kids = new Map<string, number>();
  #nextId = ROOT_ID + 1;

  /** Node ids the kernel holds (root included). */
  get size(): number {
    return this.#nodes.size;
  }

  /** The id the next new node gets (readdirplus tells the kernel ids before it holds them). */
  get nextId(): number {
    return this.#nextId;
  }

  /** The root's Vfs key, once known. */
  setRootKey(key: number): void {
    this.#nodes.get(ROOT_ID)!.key = key;
    this.#byKey.set(key, ROOT_ID);
  }

  /** The Vfs key a node id names (undefined: the kernel holds no such id). */
  keyOf(id: number): number | undefined {
    return this.#nodes.get(id)?.key;
  }

  /** The node id of a Vfs key, if the kernel holds one. */
  idOfKey(key: number): number | undefined {
    return this.#byKey.get(key);
  }

  pathOf(id: number): string | null {
    if (id === ROOT_ID) return '/';
    const names: string[] = [];
    for (let n = this.#nodes.get(id), guard = 0; n; n = this.#nodes.get(n.parent), guard++) {
      if (n.parent === 0) return '/' + names.reverse().join('/');
      if (guard > 4096) return null;
      names.push(n.name);
    }
    return null;
  }

  /** The path of a node id the kernel sent, or StaleNode when it holds no such id. */
  path(id: number): string {
    const p = this.pathOf(id);
    if (p === null) throw new StaleNode(`node ${id} is not known`);
    return p;
  }

  /**
   * The path of a node id and its stat. A node id names a file (an inode), not a name: when the
   * kernel's name for it is stale (the file was moved or replaced elsewhere, and the kernel has not
   * looked it up again), the file is found by its key where it is now (fstat, fchmod, an open of
   * /proc/PID/fd/N); a file that is gone is StaleNode (ESTALE).
   */
  current(id: number, vfs: Pick<Vfs, 'getattr' | 'pathOfKey'>): { path: string; st: Stat } {
    const p = this.path(id);
    const key = this.keyOf(id);
    let st: Stat | null = null;
    try {
      st = vfs.getattr(p);
    } catch (err) {
      if (id === ROOT_ID || !(err instanceof FsError)) throw err; // the name is gone: found by key below
    }
    if (st && (id === ROOT_ID || key === st.ino)) return { path: p, st };
    const now = key === undefined ? null : vfs.pathOfKey(key);
    if (now === null) throw new StaleNode(`${p} is another file now, or none`);
    return { path: now, st: vfs.getattr(now) };
  }

  /** The node id for a Vfs key under `parent`/`name` (moved there if it was elsewhere), or a new one. */
  idFor(parent: number, name: string, key: number): number {
    let id = this.#byKey.get(key);
    if (id === undefined) {
      id = this.#nextId++;
      this.#nodes.set(id, { parent, name, key, lookups: 0 });
      this.#byKey.set(key, id);
    } else {
      const n = this.#nodes.get(id)!;
      if (n.parent !== parent || n.name !== name) {
        const old = kidKey(n.parent, n.name);
        if (this.#kids.get(old) === id) this.#kids.delete(old);
        n.parent = parent;
        n.name = name;
      }
    }
    this.#kids.set(kidKey(parent, name), id);
    return id;
  }

  /** idFor, and the kernel holds one more lookup of it (a reply that hands it out). */
  looked(parent: number, name: string, key: number): number {
    const id = this.idFor(parent, name, key);
    this.#nodes.get(id)!.lookups++;
    return id;
  }

  forget(id: number, n: number): void {
    const node = this.#nodes.get(id);
    if (!node || id === ROOT_ID) return;
    node.lookups -= n;
    if (node.lookups > 0) return;
    this.#nodes.delete(id);
    if (this.#byKey.get(node.key) === id) this.#byKey.delete(node.key);
    const k = kidKey(node.parent, node.name);
    if (this.#kids.get(k) === id) this.#kids.delete(k);
  }

  /** The kernel's node id for a path, walking the names it holds (null: it has none). */
  nodeIdOf(p: string): number | null {
    let id = ROOT_ID;
    for (const name of p.split('/')) {
      if (!name) continue;
      const next = this.#kids.get(kidKey(id, name));
      if (next === undefined) return null;
      id = next;
    }
    return id;
  }
}
