/**
 * A large new file is sent while it is chunked (Uploader's pipeline): blocks go out before the
 * chunker has finished, missing-blocks questions batch what arrived while one was in flight, only
 * missing blocks travel, and a failure anywhere fails the upload without a commit. A fake chunker
 * releases the file's blocks window by window, when the test says so: no timing involved.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import type { ChunkedFile, ChunkOptions } from '../../../../src/client/chunk/chunk-file.js';
import type { CommitRequest } from '../../../../src/client/remote/remote-client.js';
import {
  KEEP_EDGE,
  KEEP_WHOLE_MAX,
  keepsBlock,
  Uploader,
  type Chunker,
  type UploadTarget,
} from '../../../../src/client/upload/uploader.js';
import { LoftError } from '../../../../src/shared/errors.js';
import type { BlockRef } from '../../../../src/shared/protocol.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'loft-pipeline-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const BLOCK = 1000;
/** A file of `n` blocks of BLOCK bytes, each distinct; its block list. */
function makeFile(name: string, n: number): { file: string; blocks: BlockRef[]; data: Buffer } {
  const data = Buffer.alloc(n * BLOCK);
  for (let i = 0; i < n; i++) data.fill(`block ${i};`, i * BLOCK, (i + 1) * BLOCK);
  const file = path.join(dir, name);
  writeFileSync(file, data);
  const blocks = Array.from({ length: n }, (_, i) => ({
    hash: createHash('sha256')
      .update(data.subarray(i * BLOCK, (i + 1) * BLOCK))
      .digest('hex'),
    size: BLOCK,
  }));
  return { file, blocks, data };
}

/** Hands out a file's blocks a window at a time, when `step` is called. */
class SteppedChunker implements Chunker {
  #windows: BlockRef[][] = [];
  #options: ChunkOptions = {};
  #finish!: (r: ChunkedFile) => void;
  #fail!: (e: Error) => void;
  started = false;
  constructor(
    private readonly blocks: BlockRef[],
    private readonly perWindow: number,
  ) {}
  chunk(_path: string, _params?: unknown, options: ChunkOptions = {}): Promise<ChunkedFile> {
    this.started = true;
    changed();
    this.#options = options;
    for (let i = 0; i < this.blocks.length; i += this.perWindow)
      this.#windows.push(this.blocks.slice(i, i + this.perWindow));
    return new Promise((resolve, reject) => {
      this.#finish = resolve;
      this.#fail = reject;
      options.signal?.addEventListener('abort', () => reject(new Error('chunking stopped')));
    });
  }
  /** Releases the next window; the last one also ends the chunking. */
  step(): boolean {
    const w = this.#windows.shift();
    if (!w) return false;
    this.#options.onBlocks?.(w);
    if (this.#windows.length === 0)
      this.#finish({ blocks: this.blocks, size: this.blocks.reduce((n, b) => n + b.size, 0) });
    return true;
  }
  fail(err: Error): void {
    this.#fail(err);
  }
}

/** A server in memory that records what happened, in order. */
class FakeTarget implements UploadTarget {
  events: string[] = [];
  questions: string[][] = [];
  stored = new Map<string, Buffer>();
  commits: CommitRequest[] = [];
  failPut: string | null = null;
  /** While set, questions wait for it (a slow answer). */
  gate: Promise<void> | null = null;
  constructor(readonly has: Set<string> = new Set()) {}
  async missingBlocks(hashes: string[]): Promise<string[]> {
    this.questions.push(hashes);
    changed();
    await (this.gate ?? Promise.resolve());
    return hashes.filter((h) => !this.has.has(h) && !this.stored.has(h));
  }
  async putBlock(hash: string, data: Buffer): Promise<void> {
    this.events.push(`put ${hash.slice(0, 6)}`);
    await Promise.resolve();
    if (hash === this.failPut) throw new LoftError('UNAVAILABLE', 'server went away');
    if (createHash('sha256').update(data).digest('hex') !== hash) throw new Error('bytes do not match');
    this.stored.set(hash, data);
    changed();
  }
  async commit(req: CommitRequest) {
    this.events.push('commit');
    this.commits.push(req);
    return { rev: 1, node: {} as never };
  }
}

/**
 * Waits until `cond` holds, looking again each time a fake records something (no count of event
 * loop turns: the uploader reads the file through the thread pool, which takes as many turns as the
 * machine's load makes it). One that never holds ends in tap's timeout.
 */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise<void>((r) => waiters.push(r));
}
const waiters: (() => void)[] = [];
/** A fake recorded something: every `until` looks again. */
const changed = (): void => {
  for (const w of waiters.splice(0)) w();
};

t.test('blocks are sent while the file is still being chunked; the commit lists them all', async (t) => {
  const f = makeFile('a', 12);
  const chunker = new SteppedChunker(f.blocks, 3);
  const target = new FakeTarget();
  const up = new Uploader(target, chunker);
  const done = up.upload({ file: f.file, path: '/a', parentRev: null, mtime: 1, mode: 0o644 });
  await until(() => chunker.started);
  chunker.step(); // blocks 0-2
  await until(() => target.stored.size === 3);
  t.equal(target.commits.length, 0, 'three blocks on the server before the chunker went on');
  while (chunker.step()) await new Promise((r) => setImmediate(r));
  const r = await done;
  t.equal(r.sentBlocks, 12);
  t.equal(r.sentBytes, 12 * BLOCK);
  t.same(target.commits[0]!.blocks, f.blocks, 'every block, in file order');
  t.equal(target.commits[0]!.size, f.data.length);
  t.equal(target.events.at(-1), 'commit', 'the commit comes after every PUT');
  t.equal(target.questions.flat().length, 12, 'each hash asked about once');
});

t.test('questions batch: blocks found while one is in flight go together in the next', async (t) => {
  const f = makeFile('b', 40);
  const chunker = new SteppedChunker(f.blocks, 4);
  const target = new FakeTarget();
  const up = new Uploader(target, chunker);
  const done = up.upload({ file: f.file, path: '/b', parentRev: null, mtime: 1, mode: 0o644 });
  await until(() => chunker.started);
  // The first window's question is answered late; the nine windows found meanwhile go as one.
  let answer!: () => void;
  target.gate = new Promise((r) => (answer = r));
  chunker.step();
  await until(() => target.questions.length === 1);
  while (chunker.step()) await new Promise((r) => setImmediate(r));
  t.equal(target.questions.length, 1, 'one question in flight at a time');
  target.gate = null;
  answer();
  await done;
  t.equal(target.questions.length, 2);
  t.equal(target.questions[1]!.length, 36);
  t.same(target.questions.flat().sort(), f.blocks.map((b) => b.hash).sort());
});

t.test('only missing blocks travel; a block repeated in the file is asked for and sent once', async (t) => {
  const f = makeFile('c', 9);
  const blocks = [...f.blocks.slice(0, 6), f.blocks[0]!, ...f.blocks.slice(6)];
  const data = Buffer.concat([
    f.data.subarray(0, 6 * BLOCK),
    f.data.subarray(0, BLOCK),
    f.data.subarray(6 * BLOCK),
  ]);
  writeFileSync(f.file, data);
  const chunker = new SteppedChunker(blocks, 2);
  const target = new FakeTarget(new Set([f.blocks[1]!.hash, f.blocks[7]!.hash]));
  const up = new Uploader(target, chunker);
  const done = up.upload({ file: f.file, path: '/c', parentRev: null, mtime: 1, mode: 0o644 });
  await until(() => chunker.started);
  while (chunker.step()) await new Promise((r) => setImmediate(r));
  const r = await done;
  t.equal(r.sentBlocks, 7, 'nine distinct, two already there');
  t.equal(target.questions.flat().length, 9);
  t.same(target.commits[0]!.blocks, blocks);
});

t.test('a failed PUT fails the upload, with no commit and no PUT left running', async (t) => {
  const f = makeFile('d', 10);
  const chunker = new SteppedChunker(f.blocks, 2);
  const target = new FakeTarget();
  target.failPut = f.blocks[3]!.hash;
  const up = new Uploader(target, chunker);
  const done = up.upload({ file: f.file, path: '/d', parentRev: null, mtime: 1, mode: 0o644 });
  done.catch(() => {}); // checked below, once the chunker has run
  await until(() => chunker.started);
  while (chunker.step()) await new Promise((r) => setImmediate(r));
  await t.rejects(done, { code: 'UNAVAILABLE' });
  t.equal(target.commits.length, 0);
});

t.test('a chunker that fails (the file changed) fails the upload before any commit', async (t) => {
  const f = makeFile('e', 10);
  const chunker = new SteppedChunker(f.blocks, 2);
  const target = new FakeTarget();
  const up = new Uploader(target, chunker);
  const done = up.upload({ file: f.file, path: '/e', parentRev: null, mtime: 1, mode: 0o644 });
  await until(() => chunker.started);
  chunker.step();
  chunker.fail(new LoftError('CONFLICT', 'the file changed while it was read'));
  await t.rejects(done, { code: 'CONFLICT' });
  t.equal(target.commits.length, 0);
});

t.test('a chunker that does not stream still uploads everything', async (t) => {
  const f = makeFile('f', 5);
  const target = new FakeTarget();
  const plain: Chunker = { chunk: async () => ({ blocks: f.blocks, size: f.data.length }) };
  const r = await new Uploader(target, plain).upload({
    file: f.file,
    path: '/f',
    parentRev: null,
    mtime: 1,
    mode: 0o644,
  });
  t.equal(r.sentBlocks, 5);
  t.same(target.commits[0]!.blocks, f.blocks);
});

t.test('the cache copy of a sent file: all of a small one, only the edges of a big one', async (t) => {
  const MiB = 1024 * 1024;
  t.ok(keepsBlock(0, MiB, KEEP_WHOLE_MAX), 'a file up to the limit is kept whole');
  t.ok(keepsBlock(KEEP_WHOLE_MAX / 2, MiB, KEEP_WHOLE_MAX));
  const big = KEEP_WHOLE_MAX + 16 * MiB;
  t.ok(keepsBlock(0, MiB, big), 'the first block');
  t.ok(keepsBlock(KEEP_EDGE - 1, MiB, big), 'a block that starts in the head');
  t.notOk(keepsBlock(KEEP_EDGE, MiB, big), 'the first block after the head');
  t.notOk(keepsBlock(big / 2, MiB, big), 'the middle');
  t.notOk(keepsBlock(big - KEEP_EDGE - MiB, MiB, big), 'the last block before the tail');
  t.ok(keepsBlock(big - KEEP_EDGE - MiB + 1, MiB, big), 'a block that reaches into the tail');
  t.ok(keepsBlock(big - MiB, MiB, big), 'the last block');

  // Through an upload of a 251 MiB file of distinct blocks: every block is sent, and onBlock sees
  // the edge ones only.
  const block = (i: number) => Buffer.alloc(MiB, i);
  const distinct = Array.from({ length: 251 }, (_, i) => ({
    hash: createHash('sha256').update(block(i)).digest('hex'),
    size: MiB,
    offset: i * MiB,
  }));
  const size = distinct.length * MiB;
  const target = new FakeTarget();
  const kept: string[] = [];
  const up = new Uploader(target, { chunk: async () => ({ blocks: [], size: 0 }) });
  const r = await up.uploadContent(
    { blocks: distinct, size, read: async (offset) => block(offset / MiB) },
    { path: '/big', parentRev: null, mtime: 1, mode: 0o644 },
    undefined,
    (hash) => kept.push(hash),
  );
  t.equal(r.sentBlocks, distinct.length, 'every block is sent');
  const edge = distinct.filter((b) => keepsBlock(b.offset, b.size, size)).map((b) => b.hash);
  t.equal(edge.length, 8, 'four blocks at each end');
  t.same(kept.sort(), edge.sort(), 'and only those are kept');
});
