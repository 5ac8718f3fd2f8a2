/**
 * MirrorRemote: what the server says goes into the mirror (see mirror.ts for the whole design):
 * journal pages, revisions fetched for a resync or after a push, the placement the server gave a
 * node, and a node's server id, with the folder merge when the server says two folders are one.
 */
import { LoftError } from '../../shared/errors.js';
import type { Revision } from '../../shared/protocol.js';
import { conflictAuthor, conflictName } from './conflict-name.js';
import type { NodeRow } from './mirror-schema.js';
import { MirrorTree } from './mirror-tree.js';

/** Conflicted copies remembered for `loft status` (the newest). */
const MAX_CONFLICTS_KEPT = 100;

/** What a user removed from a shared folder kept of it (see MirrorRemote.#keepDeparted). */
export interface KeptCopy {
  /** The shared folder's path here. */
  from: string;
  /** The conflicted copy in the home that holds the local changes. */
  to: string;
}

/**
 * The tombstone the server's view journal sends for the root of a shared folder the user no
 * longer mounts (removed or left: src/server/http/view-journal.ts): a folder with no name.
 */
export function isUnmount(e: Revision): boolean {
  return e.deleted && e.kind === 'dir' && e.name === '';
}

export class MirrorRemote extends MirrorTree {
  /** Server id → key of nodes displaced from their name by the page being applied (#applyOne). */
  readonly #displaced = new Map<number, number>();
  /** Shared folders left with local changes, kept as copies (drained by takeKept). */
  #kept: KeptCopy[] = [];

  /** Conflicted copies made by this device, newest last (kept for `loft status`). */
  conflicts(): string[] {
    const raw = (this.s.getMeta.get('conflicts') as { value: string } | undefined)?.value;
    return raw ? (JSON.parse(raw) as string[]) : [];
  }

  addConflict(path: string): void {
    const list = [...this.conflicts(), path].slice(-MAX_CONFLICTS_KEPT);
    this.s.setMeta.run('conflicts', JSON.stringify(list));
  }

  /** The shared folders whose local changes were kept as copies since the last call (to log). */
  takeKept(): KeptCopy[] {
    return this.#kept.splice(0);
  }

  /**
   * Applies one journal page and stores its cursor, in one transaction. Returns the hashes that
   * files no longer reference (their cached copies become evictable).
   *
   * Skipped: entries not newer than the node's revision here (the echo of this device's own
   * commits), entries for local nodes (see the file comment), entries whose name is held by a local
   * node, entries whose parent this device has deleted, and deletes of a directory that holds local
   * nodes (the local change re-creates the path when it is pushed).
   */
  applyChanges(entries: readonly Revision[], cursor: string, complete: boolean): { released: string[] } {
    const released: string[] = [];
    this.#displaced.clear();
    this.transact(() => {
      for (const e of entries) this.#applyOne(e, released);
      this.s.setMeta.run('cursor', cursor);
      if (complete) this.s.setMeta.run('synced', '1');
    });
    if (entries.length) this.changed();
    return { released: [...new Set(released)].filter((h) => !this.referenced(h)) };
  }

  /** Applies server revisions fetched outside the journal (the skip rules hold; the cursor stays). */
  mergeRemote(entries: readonly Revision[]): void {
    const released: string[] = [];
    this.transact(() => {
      for (const e of entries) this.#applyOne(e, released, false, true);
    });
    if (entries.length) this.changed();
  }

  /** Puts one server revision into the mirror as it is (after a conflict, the server's version). */
  putRemote(e: Revision): void {
    const released: string[] = [];
    this.transact(() => this.#applyOne(e, released, true));
    this.changed();
  }

  /**
   * `force`: the server's state wins over local rules (resync, conflict); `current`: `e` is the
   * node's current state (a listing), not one step of the journal, so its content stands even when
   * its last op was a move (seed 4130: a listing's move entry kept older content here, and the
   * journal's commit before it was then skipped as older).
   */
  #applyOne(e: Revision, released: string[], force = false, current = false): void {
    if (e.parentId === null) return; // the root never changes shape
    const existing = this.s.byServer.get(e.id) as NodeRow | undefined;
    if (existing && !force && existing.rev >= e.rev) return; // not newer (our own echo)
    // Skipped entries are remembered: once this device's own changes to the node are pushed, the
    // push loop fetches the node's server state again (resync), so nothing skipped is lost.
    const skip = () => void this.s.markResync.run(e.id);
    if (existing && !force && this.isLocalRow(existing)) return skip();
    // Removed here, its delete not pushed yet: an older change of it (say its own create, echoed)
    // must not bring it back meanwhile.
    if (!existing && !force && this.s.deleteQueued.get(e.id)) return skip();
    // Made by this device, unknown here, while a create of that name waits for the server: it may
    // be that create, its answer lost (the link dropped after the server applied it, or a crash).
    // Applied now, it would be another node of that name, and the retried create would go elsewhere
    // (seed 80449); skipped, the retry meets it by path and adopts it (EXISTS). Whatever it is, the
    // resync fetches it once the ops are through. (Devices of one user may share a name: then an
    // entry of another device waits for this one's creates of the same name, no longer.)
    if (
      !existing &&
      !force &&
      e.device !== null &&
      e.device === this.ownDevice &&
      this.s.createQueued.get({ name: e.name })
    )
      return skip();
    if (e.deleted) {
      // A shared folder this user no longer mounts, with changes made here not on the server:
      // they become a folder of the home (nothing is lost, and nothing waits for a folder the
      // user may no longer write to).
      if (existing && isUnmount(e) && this.holdsLocal(existing.id)) {
        this.#keepDeparted(existing, released);
        this.s.resyncDone.run(e.id);
        return;
      }
      if (existing && this.holdsLocal(existing.id)) return skip();
      if (existing) {
        this.reportPath(existing.id);
        this.removeSubtree(existing.id, released);
      } else if (this.#displaced.has(e.id)) {
        // Displaced from its name earlier in the page (its pin kept for a comeback): gone for good.
        this.s.deletePin.run(this.#displaced.get(e.id)!);
        this.#displaced.delete(e.id);
      }
      // Settled by the journal: a resync answer still on its way is older (seed 71256).
      this.s.resyncDone.run(e.id);
      return;
    }
    const parent = this.s.byServer.get(e.parentId) as NodeRow | undefined;
    if (!parent) return skip();
    // A move under the node itself or one of its descendants here (both devices moved directories
    // into each other): applying it would cut both off the root. The push of our move fails on the
    // server (a cycle), and the resync then takes the server's tree.
    if (existing && this.isUnder(parent.id, existing.id)) return skip();
    const from =
      existing && (existing.parent_id !== parent.id || existing.name !== e.name)
        ? this.rawPath(existing.id)
        : null;
    const holder = this.s.child.get(parent.id, e.name) as NodeRow | undefined;
    if (holder && holder.id !== existing?.id) {
      if (this.holdsLocal(holder.id)) return skip();
      // A live node elsewhere under this name is stale (its delete is later in this page or lost):
      // the server's order is authoritative, so the newcomer takes the name. If it comes back later
      // in the page (a move), what it held comes back with it by resync (seed 5550).
      this.#resyncBelow(holder.id);
      // The newcomer itself may lie below it here (a folder moved into the one that has its name
      // there, the move refused): it leaves that subtree first, or it would go with it (seed 48826).
      const inside = !!existing && this.isUnder(existing.id, holder.id);
      this.s.deleteNode.run(holder.id);
      if (inside) this.s.move.run(parent.id, e.name, this.now(), existing.id);
      this.removeSubtree(holder.id, released, true);
      if (holder.server_id !== null) this.#displaced.set(holder.server_id, holder.id);
    }
    let key: number;
    if (existing) {
      key = existing.id;
      this.s.updateNode.run(parent.id, e.name, e.kind, e.rev, e.size, e.mtime, e.mode, e.time, key);
    } else {
      // Displaced earlier in the page and back now (a page applied twice): the same node, same key.
      key = this.#displaced.get(e.id) ?? this.newKey();
      this.#displaced.delete(e.id);
      this.s.insertNode.run(key, e.id, parent.id, e.name, e.kind, e.rev, e.size, e.mtime, e.mode, e.time);
    }
    if (from) this.remotePath(from);
    this.reportPath(key);
    // Moved elsewhere: queued ops name paths in the tree as it was; what lies below the moved node
    // is now elsewhere on the server too, so their paths follow it.
    if (from) this.rebaseOps(from, this.rawPath(key));
    // An earlier entry of this node was skipped (in the resync set): this one, a move say, carries
    // the node's current content too, and stands in for the skipped one's (seed 635).
    const skipped = !!this.s.inResync.get(e.id);
    const contentChanged = !existing || e.op === 'create' || e.op === 'commit' || force || current || skipped;
    if (e.kind === 'file' && e.blocks && contentChanged) this.setBlocks(key, e.blocks, released);
    this.s.resyncDone.run(e.id);
  }

  /**
   * The shared folder `root` left this user's tree (removed by its owner, or left) while changes
   * made here below it are not on the server: what holds them is kept, as a new folder of the
   * home beside where the shared folder was, named as a conflicted copy
   * (`team (conflicted copy from bill on laptop 2026-12-06 181500)`). Kept: files with content
   * written here (staged) or made here, and the folders on their way; each becomes a node the
   * server does not have (server id cleared), its mkdir or commit queued by path, parents first.
   * Dropped: everything else (the server's files, still in the shared folder) and the ops queued
   * below it (moves, deletes, attribute changes of the shared folder's nodes: it is not this
   * user's any more). The copy is listed with the conflicts (`loft status`) and in takeKept.
   */
  #keepDeparted(root: NodeRow, released: string[]): void {
    const from = this.rawPath(root.id);
    if (!from || root.parent_id === null) return;
    const kept: NodeRow[] = [];
    const prune = (n: NodeRow): boolean => {
      let keep = n.server_id === null || (n.kind === 'file' && n.staging !== null);
      if (n.kind === 'dir')
        for (const { id } of this.s.childIds.all(n.id) as { id: number }[])
          if (prune(this.s.node.get(id) as NodeRow)) keep = true;
      if (n.id === root.id) keep = true;
      if (!keep) this.removeSubtree(n.id, released);
      else kept.push(n);
      return keep;
    };
    prune(root);
    this.s.dropOpsUnder.run({ from, prefix: from + '/' });
    const who = conflictAuthor(this.identity()?.user ?? 'me', this.device ?? 'this device');
    const at = new Date(this.now());
    let name = conflictName(root.name, who, at, 1, true);
    for (let n = 2; this.s.child.get(root.parent_id, name); n++)
      name = conflictName(root.name, who, at, n, true);
    this.s.move.run(root.parent_id, name, this.now(), root.id);
    const to = this.rawPath(root.id)!;
    this.remotePath(from);
    // Parents before children (prune pushed children first): the home gets the folders first.
    for (const n of kept.reverse()) {
      this.s.setServerId.run(null, n.id);
      this.s.setRev.run(0, n.id);
      this.s.deleteNodeOps.run(n.id);
      const path = this.rawPath(n.id)!;
      this.s.insertOp.run(n.kind === 'dir' ? 'mkdir' : 'commit', n.id, null, path, null, 0, this.now());
      this.reportPath(n.id);
    }
    this.addConflict(to);
    this.#kept.push({ from, to });
  }

  /** Marks everything below node `id` (a key) that the server has for resync. */
  #resyncBelow(id: number): void {
    for (const { id: child } of this.s.childIds.all(id) as { id: number }[]) {
      const serverId = this.s.serverIdOf.get(child) as number | null | undefined;
      if (serverId != null) this.s.markResync.run(serverId);
      this.#resyncBelow(child);
    }
  }

  /** `parentServerId`: the server's id of the folder the server placed the node in. */
  adoptPlacement(id: number, parentServerId: number | null, name: string, seq: number): void {
    const n = this.s.node.get(id) as NodeRow | undefined;
    if (!n || parentServerId === null) return;
    const parentId = this.keyOf(parentServerId);
    if (n.parent_id === parentId && n.name === name) return;
    if (this.s.laterMove.get(id, seq)) return;
    const holder = parentId === null ? undefined : (this.s.child.get(parentId, name) as NodeRow | undefined);
    if (parentId === null || this.isUnder(parentId, id) || (holder && holder.id !== id)) {
      this.markResync(id);
      return;
    }
    const from = this.rawPath(id);
    this.s.move.run(parentId, name, this.now(), id);
    this.rebaseOps(from, this.rawPath(id));
    // Placed as the server has it: the kernel forgets the old name (and learns the new one).
    if (from) this.remotePath(from);
    this.reportPath(id);
    this.changed();
  }

  /** Server ids of the nodes whose server state must be fetched again (see #applyOne). */
  resyncIds(): number[] {
    return (this.s.resyncIds.all() as { id: number }[]).map((r) => r.id);
  }

  /**
   * Marks a node (by key) for resync, e.g. a local move the server refused: the server's placement
   * wins. A node the server does not have yet has nothing to fetch.
   */
  markResync(id: number): void {
    const serverId = this.s.serverIdOf.get(id) as number | null | undefined;
    if (serverId != null) this.s.markResync.run(serverId);
  }

  /**
   * Applies the server's current state of a node (`serverId`) fetched for a resync: live → placed
   * and filled as the server has it (unless that would make a cycle or its parent is unknown here);
   * deleted or unknown on the server (null) → removed here. The node leaves the resync set.
   */
  resync(serverId: number, e: Revision | null): { released: string[] } {
    const released: string[] = [];
    this.transact(() => {
      // Settled meanwhile (the journal brought a newer state, a delete say): this answer is older
      // and would bring a deleted node back (seed 71256).
      if (!this.s.inResync.get(serverId)) return;
      const existing = this.s.byServer.get(serverId) as NodeRow | undefined;
      // Changed here while the server was asked (the caller checked before its request): it stays
      // in the set for the next resync, or the server's placement would be lost (seed 416).
      if (existing && this.holdsLocal(existing.id)) return;
      this.s.resyncDone.run(serverId);
      // An answer older than what the journal brought here meanwhile (the pull applied a newer
      // revision while the server was asked): the newer state stands (seed 2252).
      if (existing && e && existing.rev > e.rev) return;
      if (!e || e.deleted) {
        if (existing) {
          this.reportPath(existing.id);
          this.removeSubtree(existing.id, released);
        }
        return;
      }
      const parent = e.parentId === null ? null : this.keyOf(e.parentId);
      // Its folder is not known here yet (made there by path, its entry still to come): it stays
      // in the set, and the next resync places it (seed 2643; its own entry is an echo here).
      if (parent === null && e.parentId !== null) return void this.s.markResync.run(serverId);
      if (parent === null || (existing && this.isUnder(parent, existing.id))) return;
      this.#applyOne(e, released, true);
    });
    this.changed();
    return { released: [...new Set(released)].filter((h) => !this.referenced(h)) };
  }

  /**
   * Records the server's id of a node (its mkdir or commit was answered). Its ops carry it too, even
   * when the node was removed here meanwhile (its delete must reach the server under that id).
   *
   * Another node here may already hold that id: the server said a folder made here is one this
   * device knows under another key (another device made it, or renamed one to this name, and the
   * mirror got it by the journal at another place or name). The two folders merge into the local
   * one (see #mergeInto); of two files, the one made here stays and the other is dropped (a stale
   * echo of the same node), or, if it was changed here too, becomes a new file of its own. The server id the node had before (a conflicted copy takes a new one)
   * is free afterwards. Returns the block hashes no file references any more.
   */
  setServerId(id: number, serverId: number): string[] {
    const released: string[] = [];
    // Only a merge or a removal (another node held the id) moves paths; the usual case changes the
    // node's server id alone, and the path memo stays (a batch of a `tar x` records thousands).
    let reshaped = false;
    this.transact(() => {
      this.s.opsServerId.run(serverId, id);
      const n = this.s.node.get(id) as NodeRow | undefined;
      if (!n || n.server_id === serverId) return;
      const other = this.s.byServer.get(serverId) as NodeRow | undefined;
      if (other) {
        reshaped = true;
        if (this.isUnder(id, other.id)) {
          // Made here inside the folder it turns out to be (a move here put that folder above it
          // while another device moved the server's folder to this one's path: seed 64934). The
          // outer one stays, with the server's id, and takes what this one holds and its ops; the
          // resync then puts it where the server has it. Merged the other way, the outer folder
          // would go inside itself.
          if (other.kind === 'dir' && n.kind === 'dir') return this.#mergeInto(n, other.id);
          // A file inside the folder it would merge with: stale state here; refused (the op is
          // retried, then set aside and shown by `loft status`) rather than cutting either off.
          throw new LoftError('CONFLICT', `the server's folder ${serverId} holds this one here`);
        }
        if (other.kind === 'dir' && n.kind === 'dir') this.#mergeInto(other, id);
        else if (this.holdsLocal(other.id)) {
          // Changed here too (the stale copy was visible and got edited): it becomes a file of its
          // own, made on the server by its queued commit, so that change is not lost either.
          this.s.setServerId.run(null, other.id);
          this.s.opsServerId.run(null, other.id);
        } else this.removeSubtree(other.id, released);
      }
      this.s.setServerId.run(serverId, id);
    });
    if (reshaped) this.changed();
    else this.nodeCache.delete(id);
    return [...new Set(released)].filter((h) => !this.referenced(h));
  }

  /**
   * Folder merge: folder `from` (a row of this mirror) and folder `into` are one folder on the
   * server. What `from` holds moves into `into`; where both hold a name, two folders merge the same
   * way (the one made here takes the other's server id if it has none); otherwise the entry made
   * or changed here keeps the name and the other, holding nothing local, is dropped here and
   * fetched again once the local change is pushed (the push makes a conflicted copy if the server
   * holds something else there: nothing is lost). When both hold local changes, both stay: the one
   * of `into` moves to a free name. Ops and pins of `from` follow to `into`.
   */
  #mergeInto(from: NodeRow, into: number): void {
    const fromPath = this.rawPath(from.id);
    for (const { id: childId } of this.s.childIds.all(from.id) as { id: number }[]) {
      const c = this.s.node.get(childId) as NodeRow;
      const holder = this.s.child.get(into, c.name) as NodeRow | undefined;
      if (!holder) {
        this.s.reparent.run(into, c.id);
        continue;
      }
      if (c.kind === 'dir' && holder.kind === 'dir') {
        this.#mergeInto(c, holder.id);
        if (holder.server_id === null && c.server_id !== null) {
          this.s.setServerId.run(c.server_id, holder.id);
          this.s.opsServerId.run(c.server_id, holder.id);
        } else if (c.server_id !== null && c.server_id !== holder.server_id) {
          this.s.markResync.run(c.server_id); // two server folders under one name here: refetch
        }
        continue;
      }
      if (!this.holdsLocal(c.id)) {
        // Nothing of it is local here: dropped for now, fetched again once ours is pushed.
        this.removeSubtree(c.id, []);
        if (c.server_id !== null) this.s.markResync.run(c.server_id);
        continue;
      }
      if (!this.holdsLocal(holder.id)) {
        this.removeSubtree(holder.id, []);
        if (holder.server_id !== null) this.s.markResync.run(holder.server_id);
        this.s.reparent.run(into, c.id);
        continue;
      }
      // Both hold changes made here (an edit of the server's entry, and a new one made here): both
      // stay; the new one moves aside to a free name (queued as a move if the server has it).
      this.#setAside(holder, into);
      this.s.reparent.run(into, c.id);
    }
    // Queued ops below `from` name paths under it: they are under `into` now (after the entries
    // moved aside above had theirs rebased). The kernel forgets the old path.
    this.rebaseOps(fromPath, this.rawPath(into));
    if (fromPath) this.remotePath(fromPath);
    this.s.moveOps.run(into, from.id);
    this.s.movePin.run(into, from.id);
    this.s.deletePin.run(from.id);
    this.s.deleteNode.run(from.id);
  }

  /** Renames `n` (in folder `dir`) to the first free `name (2).ext`, `name (3).ext`, … here. */
  #setAside(n: NodeRow, dir: number): void {
    const dot = n.kind === 'file' ? n.name.lastIndexOf('.') : -1;
    const [stem, ext] = dot > 0 ? [n.name.slice(0, dot), n.name.slice(dot)] : [n.name, ''];
    let name = n.name;
    for (let i = 2; this.s.child.get(dir, name); i++) name = `${stem} (${i})${ext}`;
    const from = this.rawPath(n.id);
    this.s.move.run(dir, name, this.now(), n.id);
    const to = this.rawPath(n.id);
    this.rebaseOps(from, to);
    if (n.server_id !== null && from && to)
      this.s.insertOp.run('move', n.id, n.server_id, from, to, 0, this.now());
    if (from) this.remotePath(from);
    this.reportPath(n.id);
  }
}
