/**
 * BatchPush: the push loop's fast path for many new small things (issue 17 item 3). The creates at
 * the head of the outbox — folders, and new files of at most INLINE_MAX bytes, their content
 * inline — go to the server as one `POST /v1/batch`: one request, one transaction and one wake-up
 * of the other devices for up to BATCH_MAX of them instead of two or three requests each.
 * New files up to CHUNKED_MAX bytes join the batch too: their blocks are chunked and sent first,
 * all files' blocks at once (the uploader's scheduler bounds them), and the batch carries their
 * commits by block reference. A `tar x` alternates small and larger files; without this every
 * larger file ended the batch and went alone, one chunk + question + PUT + commit after another.
 *
 * Only the plain case goes this way: a node made here, not on the server yet, still where its op
 * put it (no later move queued), not open for writing, in a folder the server has or that an
 * earlier op of the same batch makes. The batch ends at the first op that is anything else; that
 * op and every op the server did not apply (a name taken there, a folder gone there) are replayed
 * alone by the push loop, which knows every rule. What the server did apply is recorded exactly
 * as the one-op path records it.
 *
 * Batches are pipelined one deep: while a batch's request is on the server (most of a batch's time:
 * its inline blocks written and synced, its transaction), the files of the next one are read and
 * their blocks sent (#readAhead). Only content is prepared ahead, never a place: the next batch's
 * folders may be made by this one. What was read ahead is used only at the same staging generation
 * (a file written again meanwhile is read again), and is dropped after the next batch is planned.
 */
import { sha256hex } from '../../shared/hash.js';
import { isOfflineError, LoftError } from '../../shared/errors.js';
import type { BlockRef, Revision } from '../../shared/protocol.js';
import type { MirrorNode, Op } from '../mirror/mirror.js';
import type { BatchOpRequest, BatchOpResult } from '../remote/remote-client.js';
import { dirtyContent } from './commit-content.js';
import { holdingOneBlock, type RecordCommit } from './hold-one-block.js';
import type { PushLoopOptions } from './push-options.js';
import type { UploadContent } from '../upload/uploader.js';

/** Ops per request: most of the gain, and a short hold of the server's write lock. */
export const BATCH_MAX = 100;
/** Files up to this size travel inline (docs/PROTOCOL.md: inline wins up to ~16 KiB). */
export const INLINE_MAX = 16 * 1024;
/** New files up to this size join a batch by block reference (their blocks are sent before it). */
export const CHUNKED_MAX = 4 * 1024 * 1024;
/** Bytes of such files per batch: what is read and sent before the batch's one request. */
const CHUNKED_BATCH_MAX = 32 * 1024 * 1024;
/** A batch refused as a whole (malformed for this server, no such route, too large): never again. */
const REFUSED_WHOLE = new Set(['BAD_REQUEST', 'NOT_FOUND', 'TOO_LARGE']);
/** Failed batches in a row after which every op goes alone. */
const FAILURES_MAX = 3;

type Options = Pick<
  PushLoopOptions,
  | 'remote'
  | 'mirror'
  | 'vfs'
  | 'lock'
  | 'uploader'
  | 'chunkFile'
  | 'onBlockSent'
  | 'onReleased'
  | 'log'
  | 'trace'
>;

/** A file's content prepared ahead (#readAhead), at staging generation `gen`: inline bytes, or its blocks, sent. */
interface Ahead {
  gen: number;
  size: number;
  data?: Buffer;
  blocks?: BlockRef[];
  held?: Buffer;
}

/** A new file whose blocks #send chunks and sends, as it was at staging generation `gen`. */
interface ToSend {
  node: MirrorNode;
  gen: number;
  size: number;
}

/** What #send gives for a file: its blocks, all on the server, and its one block's bytes if held. */
interface Sent {
  blocks: BlockRef[];
  held?: Buffer;
}

interface Planned {
  op: Op;
  node: MirrorNode;
  req: BatchOpRequest;
  /** An inline file's content. */
  data?: Buffer;
  /** A file's size and the generation of the staging its content was read from. */
  size?: number;
  gen?: number;
  /** A file sent by block reference: its blocks, once sent (#sendBlocks). */
  blocks?: BlockRef[];
  /** A file sent by block reference as one block: its bytes, held for the record (holdingOneBlock). */
  held?: Buffer;
}

export class BatchPush {
  readonly #o: Options;
  readonly #signal: AbortSignal;
  readonly #recordCommit: RecordCommit;
  /** Off after the server refused a batch as a whole (an older server: no batch route). */
  #off = false;
  #failures = 0;
  /** Ops a batch could not apply: each is replayed alone first (seq). */
  readonly #alone = new Set<number>();
  /** Content of the next batch's files read while this batch was sent, by op seq (#readAhead). */
  #ahead = new Map<number, Ahead>();

  constructor(options: Options, signal: AbortSignal, recordCommit: RecordCommit) {
    this.#o = options;
    this.#signal = signal;
    this.#recordCommit = recordCommit;
  }

  /**
   * Sends the run of plain creates that starts at `first` (the op the loop would run next) when
   * there are at least two; returns how many ops it finished (0: the loop runs `first` alone).
   * Network errors are thrown, as the one-op path throws them.
   */
  async run(first: Op, held: ReadonlySet<number>): Promise<number> {
    if (this.#off || !this.#o.remote.batch || this.#alone.delete(first.seq)) return 0;
    const { mirror } = this.#o;
    const ahead = this.#ahead;
    this.#ahead = new Map();
    const plan = await this.#plan(first, held, ahead);
    if (plan.length >= 2) await this.#sendBlocks(plan);
    if (plan.length < 2) {
      mirror.pushStarted(first.seq); // `first` goes alone
      return 0;
    }
    const last = plan[plan.length - 1]!.op.seq;
    mirror.pushStarted(last);
    // The next batch's content, read while this one's request is on the server (never thrown).
    const reading = this.#readAhead(last, held);
    let done = 0;
    // Inside the lock, as the one-op path sends a create: the pull loop must not apply the echo of
    // these creates before their server ids are recorded here.
    await this.#o.lock
      .run(async () => {
        // A file written again while its blocks were read: it and what follows wait for the next round.
        const changed = plan.findIndex((p) => p.blocks && this.#o.vfs.dirty.get(p.node.id)?.gen !== p.gen);
        if (changed >= 0) plan.splice(changed);
        if (!plan.length) return;
        let results: BatchOpResult[];
        try {
          results = await this.#o.remote.batch!(
            plan.map((p) => p.req),
            this.#signal,
          );
        } catch (err) {
          if (isOfflineError(err) || this.#signal.aborted) throw err;
          // Refused whole, or failed on the server: the first op goes alone this time (no op is set
          // aside for the batch route's fault), and after a few such failures every op does.
          const refused = err instanceof LoftError && REFUSED_WHOLE.has(err.code);
          if (refused || ++this.#failures >= FAILURES_MAX) this.#off = true;
          this.#o.log?.(
            this.#off
              ? 'batch refused by the server; sending changes one by one'
              : 'batch failed; will retry',
            { error: (err as Error).message },
          );
          return;
        }
        this.#failures = 0;
        // One mirror transaction for the whole batch, each op a savepoint in it: an op whose record
        // throws is rolled back alone and ends the loop, while the ones before it are kept, as when
        // each change was a transaction of its own.
        let thrown: { err: unknown } | null = null;
        mirror.together(() => {
          for (const [i, p] of plan.entries()) {
            const r = results[i];
            if (!r?.ok || !r.node) {
              this.#alone.add(p.op.seq); // replayed alone (the server changed nothing for it)
              continue;
            }
            try {
              mirror.together(() => {
                this.#record(p, r.node!, r.rev);
                mirror.opDone(p.op.seq);
              });
            } catch (err) {
              thrown = { err };
              return;
            }
            done++;
          }
        });
        if (thrown) throw (thrown as { err: unknown }).err;
      })
      .finally(() => reading);
    if (done === 0) mirror.pushStarted(first.seq); // `first` goes alone now
    this.#o.trace?.('batch pushed', { ops: plan.length, done });
    return done;
  }

  async #plan(first: Op, held: ReadonlySet<number>, ahead: ReadonlyMap<number, Ahead>): Promise<Planned[]> {
    const { mirror, vfs } = this.#o;
    const plan: Planned[] = [];
    /** Node key → index of the op of this batch that makes it. */
    const made = new Map<number, number>();
    let chunkedBytes = 0;
    const ops = mirror.opsFrom(first.seq, BATCH_MAX);
    // In flight from now on, as the op being pushed is: a close while the files are read and sent
    // queues a new commit instead of folding its change into one of these (it would be lost).
    if (ops.length) mirror.pushStarted(ops[ops.length - 1]!.seq);
    for (const op of ops) {
      if (op.stuckSince !== null || held.has(op.nodeId) || made.has(op.nodeId)) break;
      if (this.#alone.has(op.seq)) break;
      if (op.kind !== 'mkdir' && op.kind !== 'commit') break;
      const node = mirror.node(op.nodeId);
      if (!node || node.serverId !== null || node.parentId === null) break;
      if (mirror.pathOf(node.id) !== op.path || mirror.movedLater(node.id, op.seq)) break;
      const parentServerId = mirror.serverIdOf(node.parentId);
      const parentRef = made.get(node.parentId);
      const place =
        parentServerId !== null
          ? { parentId: parentServerId, name: node.name }
          : parentRef !== undefined
            ? { parentRef, name: node.name }
            : null;
      if (!place) break;
      if (op.kind === 'mkdir') {
        if (node.kind !== 'dir') break;
        plan.push({ op, node, req: { op: 'mkdir', ...place, mtime: node.mtime, mode: node.mode } });
      } else {
        const d = vfs.dirty.get(node.id);
        if (node.kind !== 'file' || !d || !d.file.complete || vfs.writersOf(node.id) > 0) break;
        // Read ahead at this generation and size: as good as read now.
        const a = ahead.get(op.seq);
        const pre = a && a.gen === d.gen && a.size === d.size ? a : undefined;
        if (d.size > INLINE_MAX) {
          if (d.size > CHUNKED_MAX || chunkedBytes + d.size > CHUNKED_BATCH_MAX) break;
          chunkedBytes += d.size;
          const blocks = pre?.blocks ?? [];
          plan.push({
            op,
            node,
            size: d.size,
            gen: d.gen,
            ...(pre?.blocks ? { blocks, held: pre.held } : {}),
            req: {
              op: 'commit',
              ...place,
              parentRev: null,
              blocks,
              size: d.size,
              mtime: d.mtime,
              mode: node.mode,
            },
          });
          made.set(node.id, plan.length - 1);
          continue;
        }
        const gen = d.gen;
        let data = pre?.data;
        if (!data) {
          data = Buffer.alloc(d.size);
          if ((await vfs.readDirty(node.id, 0, data)) !== d.size || d.gen !== gen) break;
        }
        const content = data.length ? { inline: data } : { blocks: [] as BlockRef[], size: 0 };
        plan.push({
          op,
          node,
          data,
          size: data.length,
          gen,
          req: { op: 'commit', ...place, parentRev: null, ...content, mtime: d.mtime, mode: node.mode },
        });
      }
      made.set(node.id, plan.length - 1);
    }
    return plan;
  }

  /**
   * Chunks and sends the blocks of the plan's files that go by block reference (and were not sent
   * ahead), all at once. A file that cannot be read or sent as planned (written again meanwhile, a
   * block refused) ends the plan there and goes alone next; a network error is thrown, as the one-op
   * path throws it.
   */
  async #sendBlocks(plan: Planned[]): Promise<void> {
    const at = plan.flatMap((p, i) => (p.data || p.blocks || p.size === undefined ? [] : [i]));
    const got = await this.#send(
      at.map((i) => ({ node: plan[i]!.node, gen: plan[i]!.gen!, size: plan[i]!.size! })),
    );
    let cut = plan.length;
    got.forEach((g, k) => {
      const i = at[k]!;
      const p = plan[i]!;
      if (!g || g instanceof Error) {
        if (g) this.#o.log?.('a batched file goes alone', { path: p.op.path, error: g.message });
        cut = Math.min(cut, i);
        return;
      }
      p.blocks = g.blocks;
      p.held = g.held;
      p.req = { ...(p.req as Extract<BatchOpRequest, { op: 'commit' }>), blocks: g.blocks };
    });
    if (cut < plan.length) {
      this.#alone.add(plan[cut]!.op.seq);
      plan.splice(cut);
    }
  }

  /**
   * Chunks the staging of each of `files` and sends the blocks the server lacks, all at once (one
   * question for all of them): per file, its blocks and held bytes (holdingOneBlock), the error
   * that stopped it, or undefined when it was written again since `gen`. A network error is thrown,
   * as the one-op path throws it, once every file is settled and every content opened is closed.
   */
  async #send(files: readonly ToSend[]): Promise<(Sent | Error | undefined)[]> {
    const { vfs, uploader } = this.#o;
    const out: (Sent | Error | undefined)[] = files.map(() => undefined);
    const fail = (i: number, err: unknown) => {
      if (isOfflineError(err) || this.#signal.aborted) throw err;
      out[i] = err instanceof Error ? err : new Error(String(err));
    };
    const contents = new Map<number, UploadContent>();
    try {
      const chunked = await Promise.allSettled(
        files.map(async (f, i) => {
          const d = vfs.dirty.get(f.node.id);
          if (!d || d.gen !== f.gen) return;
          try {
            contents.set(i, await dirtyContent(this.#o, f.node, d.file.path, f.size));
          } catch (err) {
            fail(i, err);
          }
        }),
      );
      for (const r of chunked) if (r.status === 'rejected') throw r.reason;
      const hashes = new Set<string>();
      for (const c of contents.values()) for (const b of c.blocks) hashes.add(b.hash);
      const missing = new Set(hashes.size ? await uploader.missingBlocks([...hashes], this.#signal) : []);
      const sent = await Promise.allSettled(
        [...contents].map(async ([i, content]) => {
          const f = files[i]!;
          try {
            const hold = holdingOneBlock(this.#o.onBlockSent, content, vfs.dirty.get(f.node.id));
            await uploader.sendMissing(content, missing, this.#signal, hold.onBlockSent);
            out[i] = {
              blocks: content.blocks.map((b) => ({ hash: b.hash, size: b.size })),
              held: hold.held(),
            };
          } catch (err) {
            fail(i, err);
          }
        }),
      );
      for (const r of sent) if (r.status === 'rejected') throw r.reason;
    } finally {
      await Promise.all([...contents.values()].map((c) => c.close?.()));
    }
    return out;
  }

  /**
   * While a batch's request is on the server: reads the new files of the ops after `after` that the
   * next batch would take (as #plan takes them, places aside) and sends their blocks, into #ahead.
   * Never throws: what fails here is met again, and reported, when the next batch is planned.
   */
  async #readAhead(after: number, held: ReadonlySet<number>): Promise<void> {
    const { mirror, vfs } = this.#o;
    const ahead = this.#ahead;
    const inline: (ToSend & { seq: number })[] = [];
    const chunked: (ToSend & { seq: number })[] = [];
    let chunkedBytes = 0;
    try {
      for (const op of mirror.opsFrom(after + 1, BATCH_MAX)) {
        if (op.stuckSince !== null || held.has(op.nodeId) || this.#alone.has(op.seq)) break;
        if (op.kind === 'mkdir') continue;
        const node = op.kind === 'commit' ? mirror.node(op.nodeId) : undefined;
        const d = node && vfs.dirty.get(node.id);
        if (!node || !d || node.kind !== 'file' || node.serverId !== null) break;
        if (!d.file.complete || vfs.writersOf(node.id) > 0 || d.size > CHUNKED_MAX) break;
        const f = { seq: op.seq, node, gen: d.gen, size: d.size };
        if (d.size <= INLINE_MAX) inline.push(f);
        else if ((chunkedBytes += d.size) <= CHUNKED_BATCH_MAX) chunked.push(f);
        else break;
      }
      // The blocks first (they take longest), the small files read meanwhile.
      const sending = this.#send(chunked);
      sending.catch(() => {}); // awaited below
      for (const f of inline) {
        const data = Buffer.alloc(f.size);
        const got = await vfs.readDirty(f.node.id, 0, data).catch(() => -1);
        if (got === f.size && vfs.dirty.get(f.node.id)?.gen === f.gen)
          ahead.set(f.seq, { gen: f.gen, size: f.size, data });
      }
      (await sending).forEach((g, k) => {
        const f = chunked[k]!;
        if (g && !(g instanceof Error)) ahead.set(f.seq, { gen: f.gen, size: f.size, ...g });
      });
    } catch {
      // Offline, aborted, or a file gone meanwhile: the next batch reads what it needs itself.
    }
  }

  /** What the one-op path records after a mkdir or the commit of a new file. */
  #record(p: Planned, rev: Revision, at: number): void {
    const { mirror } = this.#o;
    if (p.op.kind === 'mkdir') {
      this.#o.trace?.('mkdir done', { id: p.node.id, as: rev.id, rev: at, adopted: false });
      const released = mirror.setServerId(p.node.id, rev.id);
      if (released.length) this.#o.onReleased?.(released);
      mirror.setRev(p.node.id, at);
    } else {
      let blocks = p.blocks;
      let inline = p.held;
      if (!blocks) {
        const data = p.data!;
        blocks = data.length ? [{ hash: sha256hex(data), size: data.length }] : [];
        if (data.length) inline = data;
      }
      this.#recordCommit(p.node.id, rev, blocks, p.size!, p.gen!, inline);
    }
    mirror.adoptPlacement(p.node.id, rev.parentId, rev.name, p.op.seq);
  }
}
