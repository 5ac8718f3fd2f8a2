/**
 * Attributes: chmod, utimens and chown of the drive's files and folders (the rules behind those
 * Vfs calls). A file's mode and mtime travel to the server with a commit queued now (also for a
 * file whose create is under way); a folder's stay on this device, as the protocol has no folder
 * setattr; the atime and owners are this device's only (vfs.ts and owners.ts say why).
 */
import { FsError } from '../../shared/errors.js';
import type { Mirror, MirrorNode } from '../mirror/mirror.js';
import type { DirtyFile, DirtyFiles } from './dirty-files.js';
import { ID_UNCHANGED, type OwnerCaller, type Owners } from './owners.js';
import { S_IFMT } from './stat.js';

export interface AttributeOptions {
  /** The mounting user's groups: which groups that user may chgrp to, as on a local disk. */
  groups: ReadonlySet<number>;
  now: () => number;
  onQueued: () => void;
  /** Takes in what the kernel wrote to the node's staging itself (external-writes.ts), first. */
  external?: (node: MirrorNode) => void;
}

export class Attributes {
  constructor(
    private readonly mirror: Pick<Mirror, 'updateLocal' | 'queueCommit' | 'setAtime' | 'together'>,
    private readonly dirty: Pick<DirtyFiles, 'get'>,
    private readonly owners: Owners,
    private readonly o: AttributeOptions,
  ) {}

  chmod(node: MirrorNode, path: string, mode: number): void {
    this.o.external?.(node);
    const d = this.#beingWritten(node);
    const now = d?.mode ?? node.mode;
    const full = (mode & 0o7777) | (now & S_IFMT);
    // The same mode (tar's fchmod of every file it made): only the ctime moves, as on ext4; there
    // is nothing for the server, so no commit is queued (it was a transaction and an op lookup).
    if (full === now) return this.#touch(node);
    if (d) {
      // Kept with the file's writes until its close (see #beingWritten).
      d.mode = full;
      d.ctime = Math.max(d.ctime, this.o.now());
      return;
    }
    this.#change(node, path, { mode: full, ctime: this.o.now() });
  }

  /** Times in ms; null leaves that time unchanged (UTIME_OMIT). The atime is kept here only. */
  utimens(node: MirrorNode, path: string, atime: number | null, mtime: number | null): void {
    this.o.external?.(node); // before: an mtime set here must stay
    // Whole milliseconds, as the mirror and the server keep them (the server refuses fractions:
    // a fraction passed on would make a commit that can never go through).
    if (atime !== null) atime = Math.floor(atime);
    if (mtime !== null) mtime = Math.floor(mtime);
    const d = atime === null ? this.#beingWritten(node) : undefined;
    if (d) {
      // tar's futimens of the file it is writing (the mtime alone): kept with its writes.
      if (mtime !== null) d.mtime = mtime;
      d.ctime = Math.max(d.ctime, this.o.now());
      return;
    }
    // One mirror transaction for both times (one WAL commit: tar sets them on every file).
    this.mirror.together(() => this.#utimens(node, path, atime, mtime));
  }

  /**
   * The staging of a file being written, whose last writer's close is a commit point: that commit
   * point records the file's size, mtime, mode and ctime as the staging holds them (write-path.ts),
   * so a change of those stays in memory until then, where stat reads it (stat.ts), as a write's
   * does, and a kill -9 before that close drops it with the writes (the file comes back as its last
   * commit point left it). tar's fchmod and futimens of every file it makes were a mirror
   * transaction each (issue 17). Undefined for anything else: its change is recorded now.
   */
  #beingWritten(node: MirrorNode): DirtyFile | undefined {
    const d = node.kind === 'file' ? this.dirty.get(node.id) : undefined;
    return d && d.writers > 0 && d.modified ? d : undefined;
  }

  #utimens(node: MirrorNode, path: string, atime: number | null, mtime: number | null): void {
    if (atime !== null) this.mirror.setAtime(node.id, atime);
    if (mtime === null) {
      this.mirror.updateLocal(node.id, { ctime: this.o.now() });
      return;
    }
    const d = this.dirty.get(node.id);
    if (d) d.mtime = mtime;
    this.#change(node, path, { mtime, ctime: this.o.now() });
  }

  /**
   * Accepted when the caller could make this change on a local disk (-1 leaves an id unchanged),
   * and stored as the node's device-local owner (owners.ts). The ctime moves, as on ext4. A caller
   * other than the mounting user reaches the drive only through --allow-other, which always comes
   * with default_permissions: the kernel has made ext4's checks (it knows the caller's groups),
   * so they are not repeated here. The mounting user (or no caller: in process, fuse-native) is
   * checked here, as the kernel checks nothing without default_permissions.
   */
  chown(node: MirrorNode, path: string, uid: number, gid: number, caller?: OwnerCaller): void {
    this.o.external?.(node);
    const me = this.owners.owner.uid;
    const who = caller?.uid ?? me;
    if (who === me && who !== 0) {
      const cur = this.owners.of(node.id);
      const keepUid = ID_UNCHANGED.includes(uid) || uid === cur.uid;
      const keepGid = ID_UNCHANGED.includes(gid) || gid === cur.gid || this.o.groups.has(gid);
      if (cur.uid !== who || !(keepUid && keepGid))
        throw new FsError('EPERM', `${path}: only root may give files to other users or groups`);
    }
    this.owners.chown(node.id, uid, gid);
    this.#touch(node);
  }

  /**
   * Moves only the ctime. Of a file being written (its last writer's close is a commit point, which
   * writes the ctime), in memory, as a write moves it (stat.ts: the larger of the two is shown) and
   * as a kill -9 before that close drops it with the writes; otherwise in the mirror. tar's fchown
   * and fchmod of every file it makes were a mirror transaction each.
   */
  #touch(node: MirrorNode): void {
    const now = this.o.now();
    const d = this.#beingWritten(node);
    if (d) d.ctime = Math.max(d.ctime, now);
    else this.mirror.updateLocal(node.id, { ctime: now });
  }

  #change(node: MirrorNode, path: string, f: { mode?: number; mtime?: number; ctime: number }): void {
    if (node.kind === 'dir') {
      // Directory attributes are local only (the protocol has no directory setattr).
      this.mirror.updateLocal(node.id, f);
      return;
    }
    // Also for a file not on the server yet: its create may be under way with the old attributes
    // (rsync and cp -a chmod and utimens right after close), and then only a commit queued now
    // carries the new ones; a create not started yet covers them (queueCommit coalesces).
    this.mirror.queueCommit(node.id, path, f);
    this.o.onQueued();
  }
}
