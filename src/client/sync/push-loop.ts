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
 * Order matters: each op carries the path it had when it was made, so replaying in order rebuilds
 * this device's tree on the server. A commit waits until no handle can still write the file (a file
 * still open is never uploaded half-written); if the file changed while it was read for upload, the
 * op runs again on the new content. Block uploads happen outside the SyncLock; the request that
 * changes the tree and the mirror update recording its answer happen inside it.
 *
 * Ops that no longer apply (their node was removed here, the server no longer has it) are dropped;
 * no op that carries content is ever dropped: a commit that cannot go where it was meant to goes
 * beside it as a conflicted copy.
 *
 * No op blocks the queue. A commit whose file is still open for writing is held (its node waits,
 * later ops of other nodes go on) until a writer closes. An op that fails STUCK_AFTER_FAILURES
 * times in a row for a reason of its own (not offline, not a full disk) is set aside (stuck): it
 * stays queued with its data, later ops of other nodes go on, `loft status` lists it, and it is put
 * back in line at start, after every resync pass and every STUCK_RETRY_MS (one more failure sets
 * it aside again at once). A node's ops never pass each other: the ops of a held or stuck node wait
 * behind it.
 */
import fs from 'node:fs/promises';
import { isDiskFull, isLoftError, LoftError } from '../../shared/errors.js';
import type { BlockRef, Revision } from '../../shared/protocol.js';
import type { ChunkedFile } from '../chunk/chunk-file.js';
import { rechunk } from '../chunk/rechunk.js';
import type { Connectivity } from '../hydrate/hydrator.js';
import type { Mirror, MirrorNode, Op } from '../mirror/mirror.js';
import type { DeleteRequest, MkdirRequest, MoveRequest } from '../remote/remote-client.js';
import type {
  UploadContent,
  UploadDestination,
  UploadProgress,
  UploadTarget,
  Uploader,
} from '../upload/uploader.js';
import type { Vfs } from '../vfs/vfs.js';
import { bufferContent, MERGE_MAX_BYTES, mergeText } from './merge.js';
import type { SyncLock } from './sync-lock.js';

export interface PushRemote extends UploadTarget {
  mkdir(req: MkdirRequest, signal?: AbortSignal): Promise<{ rev: number; node: Revision }>;
  move(req: MoveRequest, signal?: AbortSignal): Promise<{ rev: number; node: Revision }>;
  delete(
    req: DeleteRequest,
    signal?: AbortSignal,
  ): Promise<{ rev: number; deleted: Revision[]; kept?: Revision[] }>;
  node(path: string, signal?: AbortSignal): Promise<Revision>;
  nodeById(id: number, signal?: AbortSignal): Promise<Revision>;
  list(id: number, signal?: AbortSignal): Promise<Revision[]>;
}

export interface PushLoopOptions {
  remote: PushRemote;
  mirror: Mirror;
  vfs: Vfs;
  uploader: Uploader;
  /** Chunks a complete local file off this thread. */
  chunkFile: (path: string) => Promise<ChunkedFile>;
  lock: SyncLock;
  connectivity: Connectivity;
  /** This device's name, for conflicted copies. */
  device: () => Promise<string>;
  /** Sees the bytes of every block sent (the drive caches them). */
  onBlockSent?: (hash: string, data: Buffer) => void;
  /** Block hashes no file references any more. */
  onReleased?: (hashes: string[]) => void;
  /** The verified bytes of a committed block (the hydrator): for three-way merges of text files. */
  readBlock?: (hash: string, size: number) => Promise<Buffer>;
  /**
   * Null when the mirror is caught up with the server's journal, else a promise of it
   * (PullLoop.whenCurrent).
   */
  whenPulled?: () => Promise<void> | null;
  /** The local disk is full (recording a commit failed): give space back (the cache shrinks). */
  onDiskFull?: () => void;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
  /** Each op pushed and how it ended (debug level; undefined when off). */
  trace?: ((msg: string, fields?: Record<string, unknown>) => void) | undefined;
  now?: () => Date;
}

export interface PushStatus {
  /** The upload under way: path, content size, and exact payload bytes to send / sent. */
  current: { path: string; size: number; toSend: number; sent: number } | null;
  lastError: string | null;
  /**
   * Changes are queued but none can run now: each waits for a writer to close its file or was set
   * aside (stuck) until its next retry.
   */
  blocked: boolean;
}

/** Answers that mean the server will never accept the op as it is (retrying cannot help). */
/**
 * Places a new node inside its folder by id when `byFolder` is given (it follows that folder
 * wherever another device moved it); by path when not, or when the folder is gone there
 * (NOT_FOUND), which brings the folders above it back.
 */
function byFolderOrPath<T>(byFolder: false | (() => Promise<T>), byPath: () => Promise<T>): Promise<T> {
  if (!byFolder) return byPath();
  return byFolder().catch((err: unknown) => {
    if (isLoftError(err, 'NOT_FOUND')) return byPath();
    throw err;
  });
}

const REFUSED = new Set(['NOT_FOUND', 'CYCLE', 'NOT_DIR', 'IS_DIR', 'EXISTS', 'BAD_PATH', 'NOT_EMPTY']);

/** Failures in a row (not offline, not a full disk) after which an op is set aside. */
export const STUCK_AFTER_FAILURES = 4;
/** How often ops set aside are put back in line while the drive runs. */
export const STUCK_RETRY_MS = 60_000;

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/**
 * Longest wait between attempts while the server is unreachable: a reconnect is noticed within
 * this (a failed connect every few seconds costs nothing), and the other loop is woken at once.
 */
const OFFLINE_BACKOFF_MAX_MS = 5_000;

export class PushLoop {
  readonly #o: PushLoopOptions;
  readonly #abort = new AbortController();
  #loop: Promise<void> | null = null;
  #wake: (() => void) | null = null;
  #woken = false;
  #idleWaiters: (() => void)[] = [];
  readonly status: PushStatus = { current: null, lastError: null, blocked: false };
  /** Nodes whose commit waits for a writer to close the file (cleared at every wake). */
  readonly #held = new Set<number>();
  /** Ops that were set aside once: one more failure sets them aside again. */
  readonly #wasStuck = new Set<number>();
  /** Failures in a row of each op, for a reason of its own. */
  readonly #failures = new Map<number, number>();
  #lastUnstick = 0;
  /** Counts wake() calls: a writer that closed while an attempt ran must not be missed. */
  #wakes = 0;

  constructor(options: PushLoopOptions) {
    this.#o = options;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Something was queued, or a writer closed a file: look at the outbox again. */
  wake(): void {
    this.#woken = true;
    this.#wakes++;
    this.#held.clear();
    this.#wake?.();
  }

  /** Resolves once the outbox is empty. */
  idle(): Promise<void> {
    if (this.#o.mirror.pendingOps === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    this.#abort.abort();
    this.#wake?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    const { mirror } = this.#o;
    let backoff = BACKOFF_MIN_MS;
    const clock = () => (this.#o.now ?? (() => new Date()))().getTime();
    this.#unstick(clock()); // a new start: what was set aside is tried again
    while (!signal.aborted) {
      this.#woken = false;
      if (clock() - this.#lastUnstick >= STUCK_RETRY_MS) this.#unstick(clock());
      let op = mirror.nextOp(this.#held);
      if (!op && mirror.resyncIds().length) {
        try {
          await this.#resync();
          this.#unstick(clock());
          op = mirror.nextOp(this.#held);
        } catch (err) {
          if (signal.aborted) break;
          if (isLoftError(err, 'UNAVAILABLE')) this.#o.connectivity.setOnline(false, err.message);
          else this.#o.log?.('resync failed; will retry', { error: (err as Error).message });
          await this.#sleep(backoff, true);
          backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
          continue;
        }
      }
      if (!op) {
        const pending = mirror.pendingOps;
        this.status.blocked = pending > 0;
        if (pending === 0) for (const w of this.#idleWaiters.splice(0)) w();
        // Something set aside: look again when it is due for a retry (or at a wake).
        const stuck = mirror.stuckOps().length > 0;
        await this.#sleep(stuck ? Math.max(1, this.#lastUnstick + STUCK_RETRY_MS - clock()) : null, true);
        continue;
      }
      this.status.blocked = false;
      // Remote changes first (a folder moved elsewhere moves the paths of queued creates).
      const pulling = this.#o.whenPulled?.();
      if (pulling) {
        // Bounded: a pull loop stuck on a bad page must not stop every push.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          pulling,
          new Promise<void>((resolve) => (timer = setTimeout(resolve, BACKOFF_MAX_MS))),
        ]);
        clearTimeout(timer);
        if (signal.aborted) break;
        op = mirror.nextOp(this.#held); // its paths may have moved meanwhile
        if (!op) continue;
      }
      mirror.pushing = op.seq;
      let wait: { ms: number | null; wakeable: boolean } | null = null;
      const wakes = this.#wakes;
      try {
        const finished = await this.#do(op);
        if (finished) {
          mirror.opDone(op.seq);
          this.#failures.delete(op.seq);
          this.#wasStuck.delete(op.seq);
        } else if (this.#wakes === wakes) {
          // Waits for a writer (unless one closed meanwhile: then it is tried again at once); later
          // ops of other nodes go on.
          this.#held.add(op.nodeId);
        }
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
        backoff = BACKOFF_MIN_MS;
      } catch (err) {
        if (signal.aborted) break;
        const message = err instanceof Error ? err.message : String(err);
        this.status.lastError = message;
        try {
          mirror.opFailed(op.seq, message);
        } catch {
          // a full disk: the attempt count is only informative
        }
        const offline = isLoftError(err, 'UNAVAILABLE');
        const diskFull = !offline && isDiskFull(err);
        if (offline) this.#o.connectivity.setOnline(false, message);
        else if (diskFull) this.#o.onDiskFull?.();
        if (!offline && !diskFull) {
          // A reason of the op's own: after a few, it is set aside and the queue goes on.
          const failures = (this.#failures.get(op.seq) ?? 0) + 1;
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
              backoff = BACKOFF_MIN_MS;
              continue;
            } catch {
              // a full disk: retried like any failure
            }
          }
        }
        if (!offline)
          this.#o.log?.('upload failed; will retry', { op: op.kind, path: op.path, error: message });
        // Offline: only time helps, or retryNow() when the pull loop finds the server again. A
        // local cause (e.g. a full disk) may be cured by the next local change (a file removed),
        // which wakes the loop early.
        wait = { ms: backoff, wakeable: !offline };
        backoff = Math.min(backoff * 2, offline ? OFFLINE_BACKOFF_MAX_MS : BACKOFF_MAX_MS);
      } finally {
        // Not pushing while it waits: a close meanwhile coalesces into the queued commit.
        mirror.pushing = 0;
        this.status.current = null;
        this.#o.vfs.uploadingId = null;
      }
      if (wait) await this.#sleep(wait.ms, wait.wakeable);
    }
  }

  /** Puts every op set aside back in line. */
  #unstick(now: number): void {
    this.#lastUnstick = now;
    if (this.#o.mirror.unstickAll() > 0) this.#o.trace?.('stuck ops back in line', {});
  }

  /** Ends a backoff at once (the server is reachable again). */
  retryNow(): void {
    this.#retry?.();
  }

  #retry: (() => void) | null = null;

  /** Sleeps until `ms` elapsed (forever when null) or close; `wakeable` (or ms null): or a wake(). */
  #sleep(ms: number | null, wakeable = false): Promise<void> {
    wakeable ||= ms === null;
    if (this.#woken && wakeable) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        if (t) clearTimeout(t);
        this.#wake = null;
        this.#retry = null;
        resolve();
      };
      const t = ms === null ? null : setTimeout(done, ms);
      this.#wake = wakeable ? done : null;
      this.#retry = ms === null ? null : done;
      if (this.#abort.signal.aborted) done();
    });
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
    const { mirror, remote, lock, vfs } = this.#o;
    const node = mirror.node(op.nodeId);
    if (!node) return; // removed here since
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
            (() => remote.mkdir({ parentId: node.parentId!, name: node.name, ...meta }, this.#abort.signal)),
          () =>
            remote.mkdir(
              { path: mirror.pathOf(node.id) ?? op.path, ...meta, parents: true },
              this.#abort.signal,
            ),
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
      if (node.id !== id) {
        mirror.remap(node.id, id);
        vfs.remapped(node.id, id);
      }
      mirror.setRev(id, rev);
      // Made by path, maybe elsewhere than here (see #commit): its placement is the server's.
      if (placed) mirror.adoptPlacement(id, placed.parentId, placed.name, op.seq);
      // The journal entries of what another device put inside it were skipped while the directory
      // existed only here (no parent to hang them on): fetch them now.
      if (adopted) await this.#mergeTree(id);
    });
  }

  /**
   * True when `node` can be placed on the server by its folder's id: the folder is on the server
   * and the node is here where the op puts it (`path`; op paths follow folders moved elsewhere).
   */
  #inFolder(node: MirrorNode, path: string): boolean {
    return node.parentId !== null && node.parentId > 0 && this.#o.mirror.pathOf(node.id) === path;
  }

  async #mergeTree(dirId: number): Promise<void> {
    const entries = await this.#o.remote.list(dirId, this.#abort.signal);
    this.#o.mirror.mergeRemote(entries);
    for (const e of entries) if (e.kind === 'dir') await this.#mergeTree(e.id);
  }

  async #move(op: Op): Promise<void> {
    const { mirror, remote, lock } = this.#o;
    const node = mirror.node(op.nodeId);
    if (!node || node.id < 0 || !op.toPath) return; // removed here, or not on the server yet
    await lock.run(async () => {
      // Into its folder by id when the node sits where this move put it (no later move queued) and
      // the folder is on the server: it follows a move of that folder made elsewhere meanwhile.
      // Else (placed otherwise here since: a later move, a conflicted copy's new name) by path.
      const place =
        this.#inFolder(node, op.toPath!) && !mirror.movedLater(node.id, op.seq)
          ? { toParentId: node.parentId!, toName: node.name }
          : { toPath: op.toPath! };
      const req = { id: node.id, parentRev: node.rev, ...place, overwrite: true };
      let r: { rev: number; node: Revision };
      try {
        try {
          r = await remote.move(req, this.#abort.signal);
        } catch (err) {
          if (!isLoftError(err, 'CONFLICT')) throw err;
          // Changed elsewhere since: the rename still applies (rename vs edit: both apply), and the
          // change made there (skipped here while the move was queued: the revision recorded
          // below jumps past it) is fetched by the resync.
          const current = await remote.nodeById(node.id, this.#abort.signal);
          if (current.deleted) throw new LoftError('NOT_FOUND', `${op.path} was deleted elsewhere`);
          r = await remote.move({ ...req, parentRev: current.rev }, this.#abort.signal);
          mirror.markResync(node.id);
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
      mirror.setRev(node.id, r.rev);
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
      if (mirror.holdsLocal(id)) continue;
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
      // the server, and its files are below it).
      if (e && !e.deleted && e.kind === 'dir') await this.#mergeTree(id);
    }
  }

  async #delete(op: Op): Promise<void> {
    const { mirror, remote, lock } = this.#o;
    if (op.nodeId < 0) return; // never reached the server
    // A folder's delete that absorbed the deletes of what it held (`rm -rf`): one request that lists
    // them, each with the revision this device saw.
    const expect = mirror.absorbed(op.seq);
    const signal = this.#abort.signal;
    await lock.run(async () => {
      const req = { id: op.nodeId, parentRev: op.rev, recursive: true, ...(expect.length ? { expect } : {}) };
      let kept: Revision[] | undefined;
      try {
        ({ kept } = await remote.delete(req, signal));
      } catch (err) {
        if (isLoftError(err, 'NOT_FOUND')) return;
        if (!isLoftError(err, 'CONFLICT')) throw err;
        const current = await remote.nodeById(op.nodeId, signal);
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
    vfs.uploadingId = node.id;
    const content = d ? await this.#content(node, d.file.path, d.size) : this.#committedContent(node);
    try {
      const path = mirror.pathOf(node.id) ?? op.path;
      const progress = { path, size: content.size, toSend: 0, sent: 0 };
      this.status.current = progress;
      const signal = this.#abort.signal;
      // Blocks first, outside the lock; then the commit and its record, inside it.
      await uploader.sendBlocks(content, signal, progress, this.#o.onBlockSent);
      return await this.#o.lock.run(async () => {
        const now = mirror.node(op.nodeId) ?? mirror.node(vfs.dirty.get(node.id)?.id ?? node.id);
        if (!now) return true; // removed while its blocks were sent
        if (d && d.gen !== gen) return false; // changed while read: run again on the new content
        // A new file goes inside its folder by id (it follows a move of the folder made elsewhere
        // meanwhile); by path when the folder is new here too, or was deleted there.
        const inFolder = now.id < 0 && this.#inFolder(now, op.path);
        const dest = {
          ...(now.id > 0
            ? { id: now.id, parentRev: now.rev }
            : inFolder
              ? { parentId: now.parentId!, name: now.name, parentRev: null }
              : { path: op.path, parentRev: null }),
          mtime: d?.mtime ?? now.mtime,
          mode: now.mode,
          signal,
        };
        let result;
        try {
          const send = (to: UploadDestination) =>
            uploader.commitContent(content, to, progress, this.#o.onBlockSent);
          result = await byFolderOrPath(inFolder && (() => send(dest)), () =>
            send(inFolder ? { ...dest, parentId: undefined, path: mirror.pathOf(now.id) ?? op.path } : dest),
          );
        } catch (err) {
          const deletedThere =
            now.id > 0 &&
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
              await this.#conflict(op, now, content, gen);
              return true;
            }
          } else if (isLoftError(err, 'CONFLICT')) {
            // Edit vs edit: a change of metadata only there (rename, chmod) takes our content on
            // top; text edits that do not overlap merge; anything else keeps both versions.
            if (await this.#onTop(now, content, gen, progress)) return true;
            await this.#conflict(op, now, content, gen);
            return true;
          } else throw err;
        }
        this.#recordCommit(now.id, result.node, result.blocks, content.size, gen);
        // Made by path (a new folder here, or folders deleted there and made again): the server may
        // have put it elsewhere than it sits here; its own revision is skipped here as an echo, so
        // its placement is adopted now (or resynced once the folder is known here).
        if (result.node.op === 'create')
          mirror.adoptPlacement(result.node.id, result.node.parentId, result.node.name, op.seq);
        return true;
      });
    } finally {
      await content.close?.();
    }
  }

  /** After a commit: the mirror takes the new revision; a node made here gets its server id. */
  #recordCommit(id: number, rev: Revision, blocks: BlockRef[], size: number, gen: number): void {
    const { mirror, vfs } = this.#o;
    this.#o.trace?.('committed', { id, as: rev.id, rev: rev.rev, parentId: rev.parentId, name: rev.name });
    if (id !== rev.id) {
      mirror.remap(id, rev.id);
      vfs.remapped(id, rev.id);
    }
    const d = vfs.dirty.get(rev.id);
    const clean = !d || (d.gen === gen && d.writers === 0 && !d.modified);
    const released = mirror.committed(rev.id, rev.rev, blocks, size, clean);
    if (clean && d) void vfs.dirty.drop(rev.id);
    vfs.committed(rev.id);
    if (released.length) this.#o.onReleased?.(released);
  }

  /**
   * Edit vs edit: the base is the revision this device edited (the node's revision here). When the
   * server's newer revision has the base's content (only renamed, moved or chmod-ed there), ours
   * goes on top of it. When both changed a small text file, a three-way merge of base, ours and
   * theirs is committed on top of theirs. True when one of those was committed; false when neither
   * applies (binary or large, overlapping edits, deleted there, or our own lost commit): the
   * caller makes a conflicted copy.
   */
  async #onTop(
    node: MirrorNode,
    content: UploadContent,
    gen: number,
    progress: UploadProgress,
  ): Promise<boolean> {
    const { mirror, remote, uploader, vfs, readBlock } = this.#o;
    if (node.id < 0 || node.kind !== 'file') return false;
    const signal = this.#abort.signal;
    const theirs = await remote.nodeById(node.id, signal).catch((err: unknown) => {
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
        id: node.id,
        parentRev: theirs.rev,
        mtime: merged ? Math.max(Date.now(), theirs.mtime) : (d?.mtime ?? node.mtime),
        mode: node.mode,
        signal,
      },
      progress,
      this.#o.onBlockSent,
    );
    const now = vfs.dirty.get(node.id);
    if (!merged) this.#recordCommit(node.id, result.node, result.blocks, content.size, gen);
    // A merge differs from what is staged here. Written again meanwhile: the staged content still
    // stands on the old base, so the mirror keeps that base and the next commit (queued by that
    // write) merges again, on top of this one.
    else if (!now || (now === d && now.gen === gen && now.writers === 0 && !now.modified))
      this.#recordCommit(node.id, result.node, result.blocks, merged.length, gen);
    // Renamed or moved there meanwhile: the resync (once nothing is queued) places it as there.
    mirror.markResync(node.id);
    if (merged) this.#o.log?.('merged concurrent edits of a text file', { path: mirror.pathOf(node.id) });
    return true;
  }

  /**
   * Someone else committed first (or deleted the file): our version is committed beside the winner
   * as `name (conflicted copy from DEVICE YYYY-MM-DD HHMMSS).ext`, and the winner is fetched.
   */
  /** `gen`: the generation of the local content that `content` was read from. */
  async #conflict(op: Op, node: MirrorNode, content: UploadContent, gen: number): Promise<void> {
    const { mirror, remote, uploader } = this.#o;
    // Our own commit may already be there: its answer was lost (network, or a crash before the
    // answer was recorded) and this is the retry. Same content: adopt that revision, no copy.
    const current = await (node.id > 0 ? remote.nodeById(node.id) : remote.node(op.path)).catch(
      (err: unknown) => {
        if (isLoftError(err, 'NOT_FOUND')) return null;
        throw err;
      },
    );
    if (
      current &&
      !current.deleted &&
      current.kind === 'file' &&
      sameContent(current.blocks ?? [], content)
    ) {
      this.#recordCommit(node.id, current, current.blocks ?? [], content.size, gen);
      return;
    }
    const device = await this.#o.device();
    const name = conflictName(node.name, device, (this.#o.now ?? (() => new Date()))());
    const path = mirror.pathOf(node.id) ?? op.path;
    const copyPath = path.slice(0, path.lastIndexOf('/') + 1) + name;
    // Written again while this was uploaded: the copy holds the content read then, the newer
    // writes stay staged on top of it (counting the current generation here would call the file
    // clean and drop them).
    const d = this.#o.vfs.dirty.get(node.id);
    const dest = {
      parentRev: null,
      mtime: d?.mtime ?? node.mtime,
      mode: node.mode,
      signal: this.#abort.signal,
    };
    // Beside the file in the same folder (by id, as creates go: the folder may have moved on the
    // server or have a move of its own queued here); by path if that folder is gone there.
    const result = await byFolderOrPath(
      node.parentId !== null &&
        node.parentId > 0 &&
        (() => uploader.uploadContent(content, { ...dest, parentId: node.parentId!, name })),
      () => uploader.uploadContent(content, { ...dest, path: copyPath }),
    );
    // Our content now lives in the copy: the local node becomes it, and the winner is fetched.
    this.#recordCommit(node.id, result.node, result.blocks, content.size, gen);
    mirror.renameRaw(result.node.id, name);
    mirror.adoptPlacement(result.node.id, result.node.parentId, result.node.name, op.seq);
    mirror.addConflict(copyPath);
    this.#o.log?.("conflict: kept this device's version as a conflicted copy", { path, copy: copyPath });
    try {
      if (node.id > 0) {
        // The node id is free here now (ours became the copy): the winner takes it as it is.
        const winner = await remote.nodeById(node.id);
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

  /** The content of a dirty file: chunked whole in a worker when it is all local, else around the edits. */
  async #content(node: MirrorNode, stagingPath: string, size: number): Promise<UploadContent> {
    const { mirror, vfs } = this.#o;
    const d = vfs.dirty.get(node.id)!;
    const read = async (offset: number, n: number) => {
      const buf = Buffer.allocUnsafe(n);
      const got = await vfs.readDirty(node.id, offset, buf);
      if (got !== n) throw new LoftError('CONFLICT', `${node.name} changed while it was uploaded`);
      return buf;
    };
    if (d.file.complete) {
      const chunked = await this.#o.chunkFile(stagingPath);
      if (chunked.size !== size)
        throw new LoftError('CONFLICT', `${node.name} changed while it was uploaded`);
      let at = 0;
      const blocks = chunked.blocks.map((b) => {
        const placed = { ...b, offset: at };
        at += b.size;
        return placed;
      });
      const fh = await fs.open(stagingPath, 'r');
      return {
        blocks,
        size,
        read: async (offset, n) => {
          const buf = Buffer.allocUnsafe(n);
          const { bytesRead } = await fh.read(buf, 0, n, offset);
          if (bytesRead !== n) throw new LoftError('CONFLICT', `${node.name} changed while it was uploaded`);
          return buf;
        },
        close: () => fh.close(),
      };
    }
    const base = mirror.blocks(node.id);
    const edits = [...d.file.written];
    if (d.file.baseLimit < size) edits.push([d.file.baseLimit, size]);
    const { blocks } = await rechunk({
      size,
      base,
      edits,
      read: (offset, out) => vfs.readDirty(node.id, offset, out),
    });
    return { blocks, size, read };
  }

  /** A metadata-only commit (chmod, utimens): the committed blocks as they are. */
  #committedContent(node: MirrorNode): UploadContent {
    const blocks = this.#o.mirror.blocks(node.id);
    return {
      blocks,
      size: blocks.reduce((n, b) => n + b.size, 0),
      read: () => Promise.reject(new LoftError('INTERNAL', 'server asked for a block of an unchanged file')),
    };
  }
}

function sameContent(blocks: readonly BlockRef[], content: UploadContent): boolean {
  if (blocks.length !== content.blocks.length) return false;
  return blocks.every((b, i) => b.hash === content.blocks[i]!.hash && b.size === content.blocks[i]!.size);
}

/** `name (conflicted copy from DEVICE YYYY-MM-DD HHMMSS).ext`, the extension kept last. */
export function conflictName(name: string, device: string, at: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${at.getFullYear()}-${p(at.getMonth() + 1)}-${p(at.getDate())} ${p(at.getHours())}${p(at.getMinutes())}${p(at.getSeconds())}`;
  const dot = name.lastIndexOf('.');
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
  return `${stem} (conflicted copy from ${device} ${stamp})${ext}`;
}
