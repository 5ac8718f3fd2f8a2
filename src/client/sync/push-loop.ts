/**
 * PushLoop: replays the outbox (Mirror ops) on the server, oldest first, one op at a time.
 *
 *   ┌──────┐ op   ┌─────────┐ ok   ┌──────────────────────┐
 *   │ idle │─────►│ working │─────►│ record answer, drop  │──► next op
 *   └──────┘◄─wake└─────────┘      └──────────────────────┘
 *                   │ network error: offline, back off (BACKOFF_MIN..BACKOFF_MAX), same op again
 *                   │ commit 409: merge text edits that do not overlap (merge.ts), else commit
 *                   │             ours as a conflicted copy and fetch the winner
 *
 * Order matters: each op carries the path it had when it was made, so replaying in order rebuilds this
 * device's tree on the server. A commit waits until no handle can still write the file (a file still open is
 * never uploaded half-written); if the file changed while it was read for upload, the op runs again on the
 * new content. Block uploads happen outside the SyncLock; the tree change and its record happen inside it.
 *
 * Ops that no longer apply (their node was removed here, the server no longer has it) are dropped;
 * no op that carries content is: a commit that cannot go where it was meant to goes beside it.
 *
 * No op blocks the queue. A commit whose file is still open for writing is held (its node waits,
 * later ops of other nodes go on) until a writer closes. An op that fails STUCK_AFTER_FAILURES
 * times in a row for a reason of its own (not offline, not a full disk) is set aside (stuck): it
 * stays queued with its data, later ops of other nodes go on, `loft status` lists it, and it is put
 * back in line at start, after every resync pass and every STUCK_RETRY_MS (one more failure sets
 * it aside again at once). A node's ops never pass each other (a held or stuck node's wait behind).
 */
import { systemTimers, type Timers } from '../../shared/clock.js';
import { isDiskFull, isLoftError, isOfflineError, LoftError } from '../../shared/errors.js';
import type { Revision } from '../../shared/protocol.js';
import type { MirrorNode, Op } from '../mirror/mirror.js';
import type { UploadDestination } from '../upload/uploader.js';
import { byFolderOrPath } from './by-folder.js';
import { committedContent, dirtyContent } from './commit-content.js';
import { ConflictResolver } from './conflict-resolver.js';
import { holdingOneBlock, retireStaging, type RecordCommit } from './hold-one-block.js';
import { mergeTree } from './merge-tree.js';
import { Linger } from './linger.js';
import { BATCH_MAX, BatchPush } from './push-batch.js';
import type { PushLoopOptions, PushStatus } from './push-options.js';
import { Backoff, BACKOFF_MAX_MS, LoopSleep } from './retry.js';

export type { PushLoopOptions, PushRemote, PushStatus } from './push-options.js';

/** Answers that mean the server will never accept the op as it is (retrying cannot help). */
const REFUSED = new Set(['NOT_FOUND', 'CYCLE', 'NOT_DIR', 'IS_DIR', 'EXISTS', 'BAD_PATH', 'NOT_EMPTY']);

/** Failures in a row (not offline, not a full disk) after which an op is set aside. */
export const STUCK_AFTER_FAILURES = 4;
/** How often ops set aside are put back in line while the drive runs. */
export const STUCK_RETRY_MS = 60_000;
/**
 * The same while a change is set aside for the user's quota (QUOTA_EXCEEDED): space may be freed
 * by a delete here or on another device at any time, and the retry of a refused commit is cheap
 * (its blocks are on the server already: one `missing` check and one commit).
 */
export const QUOTA_RETRY_MS = 10_000;

export class PushLoop {
  readonly #o: PushLoopOptions;
  readonly #abort = new AbortController();
  #loop: Promise<void> | null = null;
  #idleWaiters: (() => void)[] = [];
  readonly status: PushStatus = { current: null, lastError: null, blocked: false, holding: false };
  /** Nodes whose commit waits for a writer to close the file (cleared at every wake). */
  readonly #held = new Set<number>();
  /** Ops that were set aside once: one more failure sets them aside again. */
  readonly #wasStuck = new Set<number>();
  /** Failures in a row of each op, for a reason of its own. */
  readonly #failures = new Map<number, number>();
  #lastUnstick = 0;
  /** An op is set aside for the quota: put back in line every QUOTA_RETRY_MS instead. */
  #quotaStuck = false;
  /** Counts wake() calls: a writer that closed while an attempt ran must not be missed. */
  #wakes = 0;
  readonly #linger = new Linger(BATCH_MAX);

  readonly #conflicts: ConflictResolver;
  readonly #batch: BatchPush;

  readonly #timers: Timers;
  readonly #sleep: LoopSleep;

  constructor(options: PushLoopOptions) {
    this.#o = options;
    this.#timers = options.timers ?? systemTimers;
    this.#sleep = new LoopSleep(this.#timers, this.#abort.signal);
    this.#conflicts = new ConflictResolver(options, this.#abort.signal, (...args) =>
      this.#recordCommit(...args),
    );
    this.#batch = new BatchPush(options, this.#abort.signal, (...args) => this.#recordCommit(...args));
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Something was queued, or a writer closed a file: look at the outbox again. */
  wake(): void {
    this.#wakes++;
    this.#linger.changed(this.#timers.now());
    this.#held.clear();
    this.#sleep.wake();
  }

  /** Resolves once the outbox is empty. */
  idle(): Promise<void> {
    if (this.#o.mirror.pendingOps === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    const { mirror } = this.#o;
    const backoff = new Backoff();
    const clock = () => this.#timers.now();
    this.#unstick(clock()); // a new start: what was set aside is tried again
    while (!signal.aborted) {
      this.#sleep.clearWoken();
      if (clock() - this.#lastUnstick >= this.#stuckRetryMs()) this.#unstick(clock());
      let op = mirror.nextOp(this.#held);
      if (!op && mirror.resyncIds().length) {
        try {
          const before = mirror.resyncIds().length;
          await this.#resync();
          // Progress: set-aside ops go back in line (not after every pass: a stuck one would loop),
          // and what is left may wait on what this pass placed (its folder: seed 407662): again.
          if (mirror.resyncIds().length < before) {
            this.#unstick(clock());
            if (!mirror.nextOp(this.#held) && mirror.resyncIds().length) continue;
          }
          op = mirror.nextOp(this.#held);
        } catch (err) {
          if (signal.aborted) break;
          if (isOfflineError(err)) this.#o.connectivity.setOnline(false, err.message);
          else this.#o.log?.('resync failed; will retry', { error: (err as Error).message });
          await this.#sleep.sleep(backoff.next(isOfflineError(err)), true);
          continue;
        }
      }
      if (!op) {
        const pending = mirror.pendingOps;
        this.status.blocked = pending > 0;
        if (pending === 0) for (const w of this.#idleWaiters.splice(0)) w();
        // Something set aside: look again when it is due for a retry (or at a wake).
        const stuck = mirror.stuckOps().length > 0;
        await this.#sleep.sleep(
          stuck ? Math.max(1, this.#lastUnstick + this.#stuckRetryMs() - clock()) : null,
          true,
        );
        continue;
      }
      this.status.blocked = false;
      // A burst of changes under way: held while it runs, then sent in full batches (linger.ts).
      if (await this.#linger.hold(clock(), mirror.pendingOps, this.#sleep, this.status)) continue;
      // Remote changes first (a folder moved elsewhere moves the paths of queued creates).
      const pulling = this.#o.whenPulled?.();
      if (pulling) {
        // Bounded: a pull loop stuck on a bad page must not stop every push.
        let timer: unknown;
        await Promise.race([
          pulling,
          new Promise<void>((resolve) => (timer = this.#timers.setTimeout(resolve, BACKOFF_MAX_MS))),
        ]);
        this.#timers.clearTimeout(timer);
        if (signal.aborted) break;
        op = mirror.nextOp(this.#held); // its paths may have moved meanwhile
        if (!op) continue;
      }
      mirror.pushStarted(op.seq);
      let wait: { ms: number | null; wakeable: boolean } | null = null;
      const wakes = this.#wakes;
      try {
        // Many new small things at the head of the outbox: one request for all of them.
        const batched = await this.#batch.run(op, this.#held);
        const finished = batched > 0 ? null : await this.#do(op);
        if (finished) {
          mirror.opDone(op.seq);
          this.#failures.delete(op.seq);
          this.#wasStuck.delete(op.seq);
        } else if (finished === false && this.#wakes === wakes) {
          // Waits for a writer (one that closed meanwhile: tried again at once); others go on.
          this.#held.add(op.nodeId);
        }
        if (finished !== null)
          this.#o.trace?.(finished ? 'pushed' : 'waits for a writer', {
            kind: op.kind,
            seq: op.seq,
            node: op.nodeId,
            path: op.path,
            ...(op.toPath ? { to: op.toPath } : {}),
            now: mirror.node(op.nodeId) ? mirror.pathOf(op.nodeId) : null,
          });
        this.#o.connectivity.setOnline(true);
        this.status.lastError = null;
        backoff.reset();
      } catch (err) {
        if (signal.aborted) break;
        const message = err instanceof Error ? err.message : String(err);
        this.status.lastError = message;
        try {
          mirror.opFailed(op.seq, message);
        } catch {
          // a full disk: the attempt count is only informative
        }
        const offline = isOfflineError(err);
        const diskFull = !offline && isDiskFull(err);
        if (offline) this.#o.connectivity.setOnline(false, message);
        else if (diskFull) this.#o.onDiskFull?.();
        if (!offline && !diskFull) {
          // A reason of the op's own: after a few, it is set aside and the queue goes on. Over quota:
          // set aside at once (later changes, a delete that frees space, must not wait behind it).
          const quota = isLoftError(err, 'QUOTA_EXCEEDED');
          if (quota) this.#quotaStuck = true;
          const failures = quota ? STUCK_AFTER_FAILURES : (this.#failures.get(op.seq) ?? 0) + 1;
          this.#failures.set(op.seq, failures);
          if (failures >= STUCK_AFTER_FAILURES || this.#wasStuck.has(op.seq)) {
            try {
              mirror.markStuck(op.seq, clock());
              this.#wasStuck.add(op.seq);
              this.#failures.delete(op.seq);
              this.#o.log?.('a change keeps failing; set aside (retried later), the others go on', {
                op: op.kind,
                path: op.path,
                error: message,
              });
              backoff.reset();
              continue;
            } catch {
              // a full disk: retried like any failure
            }
          }
        }
        if (!offline)
          this.#o.log?.('upload failed; will retry', { op: op.kind, path: op.path, error: message });
        // Offline: only time helps, or retryNow() when the pull loop finds the server again. A local
        // cause (a full disk) may be cured by the next local change (a file removed): it wakes us.
        wait = { ms: backoff.next(offline), wakeable: !offline };
      } finally {
        // Not pushing while it waits: a close meanwhile coalesces into the queued commit.
        mirror.pushDone();
        this.status.current = null;
        if (this.#o.uploading) this.#o.uploading.id = null;
      }
      if (wait) await this.#sleep.sleep(wait.ms, wait.wakeable);
    }
  }

  /** How long ops set aside wait before they are put back in line. */
  #stuckRetryMs(): number {
    return this.#quotaStuck ? QUOTA_RETRY_MS : STUCK_RETRY_MS;
  }

  /** Puts every op set aside back in line. */
  #unstick(now: number): void {
    this.#lastUnstick = now;
    this.#quotaStuck = false;
    if (this.#o.mirror.unstickAll() > 0) this.#o.trace?.('stuck ops back in line', {});
  }

  /** Ends a backoff at once (the server is reachable again). */
  retryNow(): void {
    this.#sleep.retryNow();
  }

  /** Runs one op; false when it must wait (the file is open for writing). */
  async #do(op: Op): Promise<boolean> {
    switch (op.kind) {
      case 'mkdir':
        await this.#mkdir(op);
        return true;
      case 'move':
        await this.#move(op);
        return true;
      case 'delete':
        await this.#delete(op);
        return true;
      case 'commit':
        return this.#commit(op);
    }
  }

  async #mkdir(op: Op): Promise<void> {
    const { mirror, remote, lock } = this.#o;
    const node = mirror.node(op.nodeId);
    if (!node) return; // removed here since
    const known = node.serverId;
    if (known !== null) {
      // An earlier attempt made or adopted it and failed after (the merge below lost its answer):
      // only that is left to do. A new mkdir would make a second folder, at its new name if it
      // was renamed here meanwhile, and the adopted one would be lost here (seed 3008).
      await lock.run(async () => {
        try {
          await this.#mergeTree(known);
        } catch (err) {
          // Deleted there since: the mkdir did take effect; the delete that followed it applies
          // here as it would have (resync), unless something local lives below (seed 5400).
          if (!isLoftError(err, 'NOT_FOUND')) throw err;
          mirror.markResync(node.id);
        }
      });
      return;
    }
    await lock.run(async () => {
      let id: number;
      let rev: number;
      let adopted = false;
      let placed: Revision | null = null;
      const meta = { mtime: node.mtime, mode: node.mode };
      // Inside its folder by id: it follows that folder wherever another device moved it meanwhile.
      // Folder deleted there (or not on the server yet): by path, and the folders above come back.
      try {
        const r = await byFolderOrPath(
          this.#inFolder(node, op.path) &&
            (() =>
              remote.mkdir(
                { parentId: mirror.serverIdOf(node.parentId!)!, name: node.name, ...meta },
                this.#abort.signal,
              )),
          () => remote.mkdir({ path: this.#mkdirPath(node, op), ...meta, parents: true }, this.#abort.signal),
        );
        id = r.node.id;
        rev = r.rev;
        placed = r.node;
      } catch (err) {
        // Already there (another device made it, or this op ran before a crash): adopt it.
        if (!isLoftError(err, 'EXISTS') || err.details?.kind !== 'dir') throw err;
        id = err.details.id as number;
        rev = err.details.currentRev as number;
        adopted = true;
      }
      this.#o.trace?.('mkdir done', { id: node.id, as: id, rev, adopted });
      // A folder this device already knows under another key merges into this one (Mirror).
      const released = mirror.setServerId(node.id, id);
      if (released.length) this.#o.onReleased?.(released);
      mirror.setRev(node.id, rev);
      // Made by path, maybe elsewhere than here (see #commit): its placement is the server's.
      if (placed) mirror.adoptPlacement(node.id, placed.parentId, placed.name, op.seq);
      // The journal entries of what another device put inside it were skipped while the directory
      // existed only here (no parent to hang them on): fetch them now.
      if (adopted) await this.#mergeTree(id);
    });
  }

  /**
   * Where a folder made here goes by path: its op's path, as every op replays (a later move of it
   * or of a folder above it is queued after it and moves it on the server too; by its current
   * path, the files queued inside it by their op paths made the old folders again: seed 22469).
   * Unless another node holds that path here now (a folder moved there elsewhere): the mkdir would
   * meet that folder and merge into it, so it goes where the node is (seed 51891).
   */
  #mkdirPath(node: MirrorNode, op: Op): string {
    const { mirror } = this.#o;
    const there = mirror.lookup(op.path);
    return there && there.id !== node.id ? (mirror.pathOf(node.id) ?? op.path) : op.path;
  }

  /**
   * True when `node` can be placed on the server by its folder's id: the folder is on the server
   * and the node is here where the op puts it (`path`; op paths follow folders moved elsewhere).
   */
  #inFolder(node: MirrorNode, path: string): boolean {
    const { mirror } = this.#o;
    return (
      node.parentId !== null && mirror.serverIdOf(node.parentId) !== null && mirror.pathOf(node.id) === path
    );
  }

  /** mergeTree (merge-tree.ts) with this loop's remote, mirror and signal. */
  #mergeTree(serverDirId: number): Promise<void> {
    return mergeTree(this.#o.remote, this.#o.mirror, serverDirId, this.#abort.signal);
  }

  async #move(op: Op): Promise<void> {
    const { mirror, remote, lock } = this.#o;
    const node = mirror.node(op.nodeId);
    const serverId = node?.serverId ?? null;
    if (!node || serverId === null || !op.toPath) return; // removed here, or not on the server yet
    await lock.run(async () => {
      // Into its folder by id when the node sits where this move put it (no later move queued) and
      // the folder is on the server: it follows a move of that folder made elsewhere meanwhile.
      // Else (placed otherwise here since: a later move, a conflicted copy's new name) by path.
      const place =
        this.#inFolder(node, op.toPath!) && !mirror.movedLater(node.id, op.seq)
          ? { toParentId: mirror.serverIdOf(node.parentId!)!, toName: node.name }
          : { toPath: op.toPath! };
      const req = { id: serverId, parentRev: node.rev, ...place, overwrite: true };
      let r: { rev: number; node: Revision };
      let changedThere = false;
      try {
        try {
          r = await remote.move(req, this.#abort.signal);
        } catch (err) {
          if (!isLoftError(err, 'CONFLICT')) throw err;
          // Changed elsewhere since: the rename still applies (rename vs edit: both apply), and the
          // change made there (skipped here while the move was queued: the revision recorded
          // below jumps past it, unless the file holds local content) is fetched by the resync.
          const current = await remote.nodeById(serverId, this.#abort.signal);
          if (current.deleted) throw new LoftError('NOT_FOUND', `${op.path} was deleted elsewhere`);
          r = await remote.move({ ...req, parentRev: current.rev }, this.#abort.signal);
          mirror.markResync(node.id);
          changedThere = true;
        }
      } catch (err) {
        // The server cannot make this move (the node or the target's folder is gone there, or it
        // would put a folder inside itself because another device moved the other way): the move
        // is undone here, and the resync puts the node where the server has it.
        if (!(err instanceof LoftError) || !REFUSED.has(err.code)) throw err;
        mirror.markResync(node.id);
        this.#o.log?.('a move was refused by the server; undone here', {
          from: op.path,
          to: op.toPath,
          error: err.message,
        });
        return;
      }
      // A file with local content (open for writing, or a commit queued) keeps the revision that
      // content is based on when the move went on top of a change made elsewhere: recording the
      // move's revision would make its commit replace that change silently (no conflicted copy,
      // no merge: mount seed 6 × 40, sync-mount-regressions.test.ts).
      if (!changedThere || mirror.node(node.id)?.staging == null) mirror.setRev(node.id, r.rev);
      mirror.adoptPlacement(node.id, r.node.parentId, r.node.name, op.seq);
    });
  }

  /**
   * Fetches again the server state of nodes whose remote changes were skipped while they had local
   * changes (or whose local move the server refused), once no local change is queued.
   */
  async #resync(): Promise<void> {
    const { mirror, remote, lock } = this.#o;
    for (const id of mirror.resyncIds()) {
      if (mirror.nextOp(this.#held)) return; // a new local change: it goes first
      const key = mirror.keyOf(id);
      if (key !== null && mirror.holdsLocal(key)) continue;
      const e = await remote.nodeById(id, this.#abort.signal).catch((err: unknown) => {
        if (isLoftError(err, 'NOT_FOUND')) return null;
        throw err;
      });
      this.#o.trace?.('resync', {
        id,
        server: e && { rev: e.rev, parentId: e.parentId, name: e.name, deleted: e.deleted },
      });
      const { released } = await lock.run(async () => mirror.resync(id, e));
      if (released.length) this.#o.onReleased?.(released);
      // What lies below may have been skipped with it (their parent was elsewhere here), or removed
      // here with a folder the server had deleted while its content lives on elsewhere: the whole
      // subtree, not one level (a folder made here under a folder deleted there is made by path on
      // the server, and its files are below it). Under the lock, as the pull applies the journal:
      // a listing answered after a journal entry was applied here would bring back what that
      // entry deleted (seed 65064: a file deleted elsewhere came back from a folder's listing).
      if (e && !e.deleted && e.kind === 'dir') await lock.run(() => this.#mergeTree(id));
    }
  }

  async #delete(op: Op): Promise<void> {
    const { mirror, remote, lock } = this.#o;
    const serverId = op.serverId;
    if (serverId === null) return; // never reached the server
    // A folder's delete that absorbed the deletes of what it held (`rm -rf`): one request that lists
    // them, each with the revision this device saw.
    const expect = mirror.absorbed(op.seq);
    const signal = this.#abort.signal;
    await lock.run(async () => {
      const req = { id: serverId, parentRev: op.rev, recursive: true, ...(expect.length ? { expect } : {}) };
      let kept: Revision[] | undefined;
      try {
        ({ kept } = await remote.delete(req, signal));
      } catch (err) {
        if (isLoftError(err, 'NOT_FOUND')) return;
        if (!isLoftError(err, 'CONFLICT')) throw err;
        const current = await remote.nodeById(serverId, signal);
        if (expect.length && !current.deleted && current.kind === 'dir') {
          // The folder itself was renamed or moved elsewhere: what this device deleted in it still
          // goes (anything changed there since stays, as `kept`).
          ({ kept } = await remote.delete({ ...req, parentRev: current.rev }, signal));
        } else {
          // Edited elsewhere after this device last saw it: the edit wins and the file comes back.
          if (!current.deleted) mirror.putRemote(current);
          this.#o.log?.('a file deleted here was changed elsewhere; it stays', { path: op.path });
          return;
        }
      }
      if (kept?.length) {
        // Made or changed elsewhere meanwhile: it stays, with the folders above it (folders first).
        for (const r of kept) mirror.putRemote(r);
        this.#o.log?.('a folder deleted here held changes made elsewhere; they stay', {
          path: op.path,
          kept: kept.length,
        });
      }
    });
  }

  async #commit(op: Op): Promise<boolean> {
    const { mirror, vfs, uploader } = this.#o;
    const node = mirror.node(op.nodeId);
    if (!node) return true; // removed here since
    if (vfs.writersOf(node.id) > 0) return false;
    const d = vfs.dirty.get(node.id);
    const gen = d?.gen ?? 0;
    if (this.#o.uploading) this.#o.uploading.id = node.id;
    const content = d
      ? await dirtyContent(this.#o, node, d.file.path, d.size)
      : committedContent(this.#o.mirror, node);
    try {
      const path = mirror.pathOf(node.id) ?? op.path;
      const progress = { path, size: content.size, toSend: 0, sent: 0 };
      this.status.current = progress;
      const signal = this.#abort.signal;
      // Blocks first, outside the lock; then the commit and its record, inside it.
      const hold = holdingOneBlock(this.#o.onBlockSent, content, d);
      await uploader.sendBlocks(content, signal, progress, hold.onBlockSent);
      return await this.#o.lock.run(async () => {
        const now = mirror.node(op.nodeId);
        if (!now) return true; // removed while its blocks were sent
        if (d && d.gen !== gen) return false; // changed while read: run again on the new content
        // A new file goes inside its folder by id (it follows a move of the folder made elsewhere
        // meanwhile); by path when the folder is new here too, or was deleted there.
        const inFolder = now.serverId === null && this.#inFolder(now, op.path);
        const dest = {
          ...(now.serverId !== null
            ? { id: now.serverId, parentRev: now.rev }
            : inFolder
              ? { parentId: mirror.serverIdOf(now.parentId!)!, name: now.name, parentRev: null }
              : { path: op.path, parentRev: null }),
          mtime: d?.mtime ?? now.mtime,
          mode: now.mode,
          signal,
        };
        let result;
        try {
          const send = (to: UploadDestination) =>
            uploader.commitContent(content, to, progress, hold.onBlockSent);
          result = await byFolderOrPath(inFolder && (() => send(dest)), () =>
            send(inFolder ? { ...dest, parentId: undefined, path: mirror.pathOf(now.id) ?? op.path } : dest),
          );
        } catch (err) {
          const deletedThere =
            now.serverId !== null &&
            (isLoftError(err, 'NOT_FOUND') ||
              (isLoftError(err, 'CONFLICT') && err.details?.deleted === true));
          if (deletedThere) {
            // Deleted elsewhere (maybe with its folder): the edit wins, the file comes back where it
            // is here, with the folders above it.
            try {
              result = await uploader.commitContent(
                content,
                { ...dest, id: undefined, path: mirror.pathOf(now.id) ?? op.path, parentRev: null },
                progress,
              );
            } catch (again) {
              if (!isLoftError(again, 'CONFLICT')) throw again;
              await this.#conflicts.conflict(op, now, content, gen);
              return true;
            }
          } else if (isLoftError(err, 'CONFLICT')) {
            // Edit vs edit: a change of metadata only there (rename, chmod) takes our content on
            // top; text edits that do not overlap merge; anything else keeps both versions.
            if (await this.#conflicts.onTop(now, content, gen, progress)) return true;
            if (content.metadataOnly) {
              // Nothing of ours carries content (a chmod, a commit retried after it landed): the
              // newer revision there stands, and is fetched; a conflicted copy would only repeat it.
              mirror.markResync(now.id);
              return true;
            }
            await this.#conflicts.conflict(op, now, content, gen);
            return true;
          } else throw err;
        }
        this.#recordCommit(now.id, result.node, result.blocks, content.size, gen, hold.held());
        // Made by path (a new folder here, or folders deleted there and made again): the server may
        // have put it elsewhere than it sits here; its own revision is skipped here as an echo, so
        // its placement is adopted now (or resynced once the folder is known here).
        if (result.node.op === 'create')
          mirror.adoptPlacement(now.id, result.node.parentId, result.node.name, op.seq);
        return true;
      });
    } finally {
      await content.close?.();
    }
  }

  /** After a commit (RecordCommit): the mirror takes it; a node made here gets its server id. */
  readonly #recordCommit: RecordCommit = (id, rev, blocks, size, gen, inline) => {
    const { mirror, vfs } = this.#o;
    this.#o.trace?.('committed', { id, as: rev.id, rev: rev.rev, parentId: rev.parentId, name: rev.name });
    const released = mirror.serverIdOf(id) === rev.id ? [] : mirror.setServerId(id, rev.id);
    const d = vfs.dirty.get(id);
    // A staging the kernel still reads or writes itself stays the node's (vfs/external-writes.ts).
    const clean = !d || (d.gen === gen && d.writers === 0 && !d.modified && d.passthrough === 0);
    released.push(...mirror.committed(id, rev.rev, blocks, size, clean));
    retireStaging(this.#o, id, clean, blocks, size, inline);
    vfs.committed(id);
    if (released.length) this.#o.onReleased?.(released);
  };
}
