/**
 * ConflictResolver: what the push loop does when a commit meets a newer revision on the server
 * (edit vs edit, edit vs delete): our change on top of a rename or chmod made there, a three-way
 * merge of small text files, or else our version kept beside the winner as a conflicted copy.
 * Nothing that carries content is dropped.
 */
import { systemTimers } from '../../shared/clock.js';
import { isLoftError } from '../../shared/errors.js';
import type { BlockRef, Revision } from '../../shared/protocol.js';
import type { MirrorNode, Op } from '../mirror/mirror.js';
import type { UploadContent, UploadProgress } from '../upload/uploader.js';
import { conflictName } from '../mirror/conflict-name.js';
import { byFolderOrPath } from './by-folder.js';
import { bufferContent, MERGE_MAX_BYTES, mergeText } from './merge.js';
import type { PushLoopOptions } from './push-loop.js';

/** Records a commit's answer for node `id` (PushLoop's recordCommit). */
export type RecordCommit = (id: number, rev: Revision, blocks: BlockRef[], size: number, gen: number) => void;

export class ConflictResolver {
  readonly #o: PushLoopOptions;
  readonly #signal: AbortSignal;
  readonly #record: RecordCommit;

  constructor(options: PushLoopOptions, signal: AbortSignal, record: RecordCommit) {
    this.#o = options;
    this.#signal = signal;
    this.#record = record;
  }

  /**
   * Edit vs edit: the base is the revision this device edited (the node's revision here). When the
   * server's newer revision has the base's content (only renamed, moved or chmod-ed there), ours
   * goes on top of it. When both changed a small text file, a three-way merge of base, ours and
   * theirs is committed on top of theirs. True when one of those was committed; false when neither
   * applies (binary or large, overlapping edits, deleted there, or our own lost commit): the
   * caller makes a conflicted copy.
   */
  async onTop(
    node: MirrorNode,
    content: UploadContent,
    gen: number,
    progress: UploadProgress,
  ): Promise<boolean> {
    const { mirror, remote, uploader, vfs, readBlock } = this.#o;
    if (node.serverId === null || node.kind !== 'file') return false;
    const signal = this.#signal;
    const theirs = await remote.nodeById(node.serverId, signal).catch((err: unknown) => {
      if (isLoftError(err, 'NOT_FOUND')) return null;
      throw err;
    });
    if (!theirs || theirs.deleted || theirs.kind !== 'file') return false;
    if (sameContent(theirs.blocks ?? [], content)) return false; // our own commit, answer lost
    const base = mirror.blocks(node.id);
    const theirBlocks = theirs.blocks ?? [];
    const unchangedThere =
      base.length === theirBlocks.length && base.every((b, i) => b.hash === theirBlocks[i]!.hash);
    let upload = content;
    let merged: Buffer | null = null;
    if (!unchangedThere) {
      // A change of metadata only here, content changed there: theirs stands (the caller resyncs).
      if (content.metadataOnly) return false;
      if (!readBlock || content.size > MERGE_MAX_BYTES || theirs.size > MERGE_MAX_BYTES) return false;
      if (base.reduce((n, b) => n + b.size, 0) > MERGE_MAX_BYTES) return false;
      const read = async (blocks: readonly BlockRef[]) =>
        Buffer.concat(await Promise.all(blocks.map((b) => readBlock(b.hash, b.size))));
      const [o, a, b] = await Promise.all([read(base), content.read(0, content.size), read(theirBlocks)]);
      merged = mergeText(o, a, b);
      if (!merged) return false;
      upload = bufferContent(merged);
    }
    const d = vfs.dirty.get(node.id);
    const result = await uploader.uploadContent(
      upload,
      {
        id: node.serverId,
        parentRev: theirs.rev,
        mtime: merged
          ? Math.max((this.#o.timers ?? systemTimers).now(), theirs.mtime)
          : (d?.mtime ?? node.mtime),
        mode: node.mode,
        signal,
      },
      progress,
      this.#o.onBlockSent,
    );
    const now = vfs.dirty.get(node.id);
    if (!merged) this.#record(node.id, result.node, result.blocks, content.size, gen);
    // A merge differs from what is staged here. Written again meanwhile: the staged content still
    // stands on the old base, so the mirror keeps that base and the next commit (queued by that
    // write) merges again, on top of this one.
    else if (!now || (now === d && now.gen === gen && now.writers === 0 && !now.modified))
      this.#record(node.id, result.node, result.blocks, merged.length, gen);
    // Renamed or moved there meanwhile: the resync (once nothing is queued) places it as there.
    mirror.markResync(node.id);
    if (merged) this.#o.log?.('merged concurrent edits of a text file', { path: mirror.pathOf(node.id) });
    return true;
  }

  /**
   * Someone else committed first (or deleted the file): our version is committed beside the winner
   * as `name (conflicted copy from DEVICE YYYY-MM-DD HHMMSS).ext` (in a shared folder
   * `from USER on DEVICE`: options.conflictAuthor), and the winner is fetched.
   */
  /** `gen`: the generation of the local content that `content` was read from. */
  async conflict(op: Op, node: MirrorNode, content: UploadContent, gen: number): Promise<void> {
    const { mirror, remote, uploader } = this.#o;
    // Our own commit may already be there: its answer was lost (network, or a crash before the
    // answer was recorded) and this is the retry. Same content: adopt that revision, no copy.
    const current = await (
      node.serverId !== null ? remote.nodeById(node.serverId) : remote.node(op.path)
    ).catch((err: unknown) => {
      if (isLoftError(err, 'NOT_FOUND')) return null;
      throw err;
    });
    if (
      current &&
      !current.deleted &&
      current.kind === 'file' &&
      sameContent(current.blocks ?? [], content)
    ) {
      this.#record(node.id, current, current.blocks ?? [], content.size, gen);
      // That revision may carry a move made elsewhere, whose journal entry was skipped here while
      // this commit was queued (and is no newer than what is recorded now): the resync places the
      // file as there (seed 87756).
      mirror.markResync(node.id);
      return;
    }
    const path = mirror.pathOf(node.id) ?? op.path;
    const who = this.#o.conflictAuthor ? await this.#o.conflictAuthor(path) : await this.#o.device();
    const at = this.#o.now?.() ?? new Date((this.#o.timers ?? systemTimers).now());
    const dir = path.slice(0, path.lastIndexOf('/') + 1);
    // Two copies of one file within a second would share a name: the next one is "… (2)" (a name
    // taken here made the local rename fail after the server had the copy: seed 1145).
    let name = conflictName(node.name, who, at);
    for (let n = 2; n < 100; n++) {
      const holder = mirror.lookup(dir + name);
      if (!holder || holder.id === node.id) break;
      name = conflictName(node.name, who, at, n);
    }
    const copyPath = dir + name;
    // Written again while this was uploaded: the copy holds the content read then, the newer
    // writes stay staged on top of it (counting the current generation here would call the file
    // clean and drop them).
    const d = this.#o.vfs.dirty.get(node.id);
    const dest = {
      parentRev: null,
      mtime: d?.mtime ?? node.mtime,
      mode: node.mode,
      signal: this.#signal,
    };
    // Beside the file in the same folder (by id, as creates go: the folder may have moved on the
    // server or have a move of its own queued here); by path if that folder is gone there.
    const folder = node.parentId === null ? null : mirror.serverIdOf(node.parentId);
    const result = await byFolderOrPath(
      folder !== null && (() => uploader.uploadContent(content, { ...dest, parentId: folder, name })),
      () => uploader.uploadContent(content, { ...dest, path: copyPath }),
    );
    // Our content now lives in the copy: the local node becomes it, and the winner is fetched.
    this.#record(node.id, result.node, result.blocks, content.size, gen);
    mirror.renameRaw(node.id, name);
    mirror.adoptPlacement(node.id, result.node.parentId, result.node.name, op.seq);
    mirror.addConflict(copyPath);
    this.#o.log?.("conflict: kept this device's version as a conflicted copy", { path, copy: copyPath });
    try {
      if (node.serverId !== null) {
        // Its server id is free here now (ours became the copy): the winner comes in as it is.
        const winner = await remote.nodeById(node.serverId);
        if (!winner.deleted) mirror.putRemote(winner);
      } else {
        // A new file lost to whatever holds its path there, which may be a node this device has
        // local changes to (moved there elsewhere): applied with the usual rules (or resynced).
        const winner = await remote.node(path);
        if (!winner.deleted) mirror.mergeRemote([winner]);
      }
    } catch (err) {
      if (!isLoftError(err, 'NOT_FOUND')) throw err;
    }
  }
}

export function sameContent(blocks: readonly BlockRef[], content: UploadContent): boolean {
  if (blocks.length !== content.blocks.length) return false;
  return blocks.every((b, i) => b.hash === content.blocks[i]!.hash && b.size === content.blocks[i]!.size);
}

export { conflictName } from '../mirror/conflict-name.js';
