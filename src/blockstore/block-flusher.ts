/**
 * BlockFlusher: makes the new blocks of a local store durable in groups, off the path of the PUT
 * that wrote them (FsBlockStore with `syncInGroups`).
 *
 * A put writes its block to a temp file and hands it here, without fsync; the PUT answers then.
 * One loop takes every block queued so far (a group, at most GROUP_MAX) and:
 *
 *   1. fdatasyncs each temp file (SYNC_LANES at a time),
 *   2. renames each into its final place `<hh>/<hh>/<hash>`,
 *   3. fsyncs each shard folder that received one (SYNC_LANES at a time),
 *
 * (with the native binding's file steps, StoreFileIo, 1 and 2 are one thread-pool job per block),
 * then the next group, which gathered while this one waited on the disk (group commit). So a
 * block at its final path is always durable: it got there only after its bytes were synced, and it
 * counts as stored for `makeDurable` only once its folder entry was synced too. A block that fails
 * a step (full disk, I/O error) is removed, tmp and final path: after an fsync error its bytes may
 * be gone whatever the page cache shows, so the store says it is absent and the commit that needs it
 * asks the client to send it again (BLOCK_UNUSABLE).
 *
 * The rule this serves (docs/PROTOCOL.md, "Durability"): a committed revision never references a
 * block that a power loss could lose. The commit routes call `BlockStore.makeDurable` with the
 * commit's blocks before its metadata transaction, and that waits for their groups.
 *
 * Concurrency: `add` and the maps are touched on the event loop only; one group runs at a time
 * (`#loop`). `location` tells readers where a pending block's bytes are; a reader that opens the
 * temp path just as step 2 renames it gets ENOENT and asks again (FsBlockStore.#open).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fsyncPath } from '../shared/fsync-path.js';
import { optionalBinding } from '../shared/native-binding.js';

/**
 * A block store's file steps as one thread-pool job each (native/block-io.cc), where the native
 * binding is built: a block costs the server's JavaScript thread 4 round trips to the pool instead
 * of 11 (open + write + close at put; open + fdatasync + close + mkdir + rename and the folder's
 * open + fsync + close in its group), and that thread is what a big upload waits for (issue 17).
 */
export interface StoreFileIo {
  /**
   * Creates `file` (it must not exist) holding the parts in order; resolves how many of its bytes
   * went to the device by direct I/O, past the page cache (block-io.cc says when and why).
   */
  writeNew(file: string, parts: Buffer[]): Promise<number>;
  /** fdatasyncs `tmp`, then renames it to `final` (making final's folder and its parent if missing). */
  syncInto(tmp: string, final: string): Promise<void>;
  /** fsyncs a folder. */
  fsyncDir(dir: string): Promise<void>;
}

/** The binding's file steps, or null where it is not built or does not load. */
export function nativeStoreFileIo(): StoreFileIo | null {
  const io = (optionalBinding() ?? {}) as Partial<StoreFileIo>;
  return io.writeNew && io.syncInto && io.fsyncDir
    ? { writeNew: io.writeNew, syncInto: io.syncInto, fsyncDir: io.fsyncDir }
    : null;
}

/** Blocks per group: a 1 GiB upload in ~4 groups at most; bounds one group's disk wait. */
const GROUP_MAX = 256;
/**
 * fsyncs at once: libuv's thread pool has 4 threads, which also do every read and write of the
 * server; two in fsync leave two for the PUTs that keep arriving.
 */
const SYNC_LANES = 2;

interface Pending {
  tmp: string;
  final: string;
  /** Resolves true once durable at `final`, false when the block was dropped (an I/O error). */
  done: Promise<boolean>;
  settle: (durable: boolean) => void;
}

export class BlockFlusher {
  readonly #pending = new Map<string, Pending>();
  #queue: string[] = [];
  #loop: Promise<void> | null = null;
  readonly #onDropped: (hash: string, err: unknown) => void;
  readonly #io: StoreFileIo | null;

  /** `io`: the native file steps (steps 1 and 2 are then one job per block), or null: node's fs. */
  constructor(onDropped: (hash: string, err: unknown) => void = () => {}, io: StoreFileIo | null = null) {
    this.#onDropped = onDropped;
    this.#io = io;
  }

  /** Blocks written and not yet durable. */
  get size(): number {
    return this.#pending.size;
  }

  /** A block written to `tmp` (complete, not synced) that belongs at `final`. */
  add(hash: string, tmp: string, final: string): void {
    let settle!: (durable: boolean) => void;
    const done = new Promise<boolean>((resolve) => (settle = resolve));
    this.#pending.set(hash, { tmp, final, done, settle });
    this.#queue.push(hash);
    this.#loop ??= this.#run();
  }

  /** The temp file holding a pending block's bytes, or undefined when it is not pending. */
  location(hash: string): string | undefined {
    return this.#pending.get(hash)?.tmp;
  }

  /** Hashes of the pending blocks. */
  hashes(): string[] {
    return [...this.#pending.keys()];
  }

  /** Null when `hash` is not pending; else resolves true once durable, false if it was dropped. */
  whenDurable(hash: string): Promise<boolean> | null {
    return this.#pending.get(hash)?.done ?? null;
  }

  /** Every block pending durable (whether each succeeded or was dropped). */
  async drain(): Promise<void> {
    while (this.#loop) await this.#loop;
  }

  async #run(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const group = this.#queue.splice(0, GROUP_MAX);
        await this.#sync(group);
      }
    } finally {
      this.#loop = null;
    }
  }

  async #sync(group: string[]): Promise<void> {
    const ok = new Set<string>();
    const dirs = new Map<string, string[]>();
    const placed = (hash: string) => {
      const dir = path.dirname(this.#pending.get(hash)!.final);
      dirs.set(dir, [...(dirs.get(dir) ?? []), hash]);
    };
    const io = this.#io;
    if (io) {
      // 1 and 2 in one job per block: synced, then renamed into place.
      await lanes(group, async (hash) => {
        const p = this.#pending.get(hash)!;
        try {
          await io.syncInto(p.tmp, p.final);
          ok.add(hash);
          placed(hash);
        } catch (err) {
          await this.#drop(hash, err);
        }
      });
    } else {
      await this.#syncThenPlace(group, ok, placed);
    }
    // 3. Their folder entries. Only then is a block durable where readers look for it.
    await lanes([...dirs.keys()], async (dir) => {
      try {
        await (io ? io.fsyncDir(dir) : fsyncPath(dir));
      } catch (err) {
        for (const hash of dirs.get(dir)!) {
          ok.delete(hash);
          await this.#drop(hash, err);
        }
      }
    });
    for (const hash of ok) {
      const p = this.#pending.get(hash)!;
      this.#pending.delete(hash);
      p.settle(true);
    }
  }

  /** Steps 1 and 2 through node's fs: every block synced, then each renamed into place. */
  async #syncThenPlace(group: string[], ok: Set<string>, placed: (hash: string) => void): Promise<void> {
    // 1. The bytes.
    await lanes(group, async (hash) => {
      const p = this.#pending.get(hash)!;
      try {
        const fh = await fs.open(p.tmp, 'r+');
        try {
          await fh.datasync();
        } finally {
          await fh.close();
        }
        ok.add(hash);
      } catch (err) {
        await this.#drop(hash, err);
      }
    });
    // 2. Into place (a rename is fast; in order, so that a reader's retry finds the final path).
    for (const hash of ok) {
      const p = this.#pending.get(hash)!;
      try {
        await fs.mkdir(path.dirname(p.final), { recursive: true });
        await fs.rename(p.tmp, p.final);
        placed(hash);
      } catch (err) {
        ok.delete(hash);
        await this.#drop(hash, err);
      }
    }
  }

  /** A block that could not be made durable: removed everywhere, reported absent from now on. */
  async #drop(hash: string, err: unknown): Promise<void> {
    const p = this.#pending.get(hash);
    if (!p) return;
    await fs.rm(p.tmp, { force: true }).catch(() => {});
    await fs.rm(p.final, { force: true }).catch(() => {});
    this.#pending.delete(hash);
    p.settle(false);
    this.#onDropped(hash, err);
  }
}

/** Runs `fn` over `items`, SYNC_LANES at a time. */
async function lanes<T>(items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(SYNC_LANES, items.length) }, lane));
}
