/**
 * Owners of the drive's files and folders, kept on this device only.
 *
 * The server knows accounts, not local uids: another device's uid 1000 is somebody else. So a
 * node's owner is device-local, like its atime. By default it is the mounting user (every file that
 * arrives from the server, every file the mounting user makes). With `--allow-other` another local
 * user may call (the kernel checks modes, default_permissions): what that user creates is its own,
 * with ext4's rules (inode_init_owner: uid = the caller's, gid = the caller's, or the folder's when
 * the folder is set-group-ID, and a folder made there is set-group-ID too), and root's chown gives
 * a file away. Only owners that differ from the default are stored (the mirror's `owners` table),
 * and all of them are held in memory: a stat costs a Map lookup, no query.
 */
import type { Mirror } from '../mirror/mirror.js';

export interface Owner {
  uid: number;
  gid: number;
}

/** Who made a request, as far as ownership goes (FUSE: the caller's fsuid and fsgid). */
export type OwnerCaller = Owner;

export const S_ISGID = 0o2000;
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;

/** chown's "leave this id unchanged" (-1, or the same as an unsigned 32-bit number). */
export const ID_UNCHANGED = [-1, 0xffffffff];

export class Owners {
  readonly #byNode = new Map<number, Owner>();

  constructor(
    private readonly mirror: Pick<Mirror, 'owners' | 'setOwner'>,
    /** The mounting user: the owner of every node not in the table. */
    readonly owner: Owner,
  ) {
    for (const [id, uid, gid] of mirror.owners()) this.#byNode.set(id, { uid, gid });
  }

  of(id: number): Owner {
    return this.#byNode.get(id) ?? this.owner;
  }

  /**
   * Makes a node `caller` creates in `parent` (ext4's rules, see the top; no caller: the mounting
   * user, as for fuse-native and the Vfs used in process): `create` gets the mode bits to give it
   * (`mode` carries S_IFDIR for a folder) and the owner is recorded in the same tick, so no lookup
   * ever sees the node without it.
   */
  make<T extends { id: number }>(
    parent: { id: number; mode: number },
    caller: OwnerCaller | undefined,
    mode: number,
    create: (mode: number) => T,
  ): T {
    const who = caller ?? this.owner;
    const inherit = (parent.mode & S_ISGID) !== 0;
    const dir = (mode & S_IFMT) === S_IFDIR;
    const node = create(inherit && dir ? mode | S_ISGID : mode);
    this.set(node.id, { uid: who.uid, gid: inherit ? this.of(parent.id).gid : who.gid });
    return node;
  }

  /** Records the owner of a node just made (stored only when it is not the default). */
  set(id: number, owner: Owner): void {
    const isDefault = owner.uid === this.owner.uid && owner.gid === this.owner.gid;
    if (isDefault && !this.#byNode.has(id)) return;
    if (isDefault) this.#byNode.delete(id);
    else this.#byNode.set(id, { uid: owner.uid, gid: owner.gid });
    this.mirror.setOwner(id, isDefault ? null : owner);
  }

  /** chown's new owner: -1 (or 2^32-1) leaves that id as it is. */
  chown(id: number, uid: number, gid: number): void {
    const cur = this.of(id);
    this.set(id, {
      uid: ID_UNCHANGED.includes(uid) ? cur.uid : uid,
      gid: ID_UNCHANGED.includes(gid) ? cur.gid : gid,
    });
  }

  /** A node removed here: its row goes too (keys are never reused, so a missed one is harmless). */
  drop(id: number): void {
    if (this.#byNode.delete(id)) this.mirror.setOwner(id, null);
  }
}
