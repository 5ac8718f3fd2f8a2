import { createHash, randomBytes } from 'node:crypto';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { chunkFile } from '../../../../src/client/chunk/chunk-file.js';
import { ChunkWorkerPool } from '../../../../src/client/chunk/chunk-worker-pool.js';
import { Frontier } from '../../../../src/client/chunk/frontier.js';
import { chunkStarts, DEFAULT_CHUNK_PARAMS } from '../../../../src/client/chunk/streaming-chunker.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'loft-chunk-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** Whole-buffer reference: boundaries from fastcdc at once, SHA-256 of each piece. */
function reference(data: Buffer) {
  const starts = chunkStarts(data, DEFAULT_CHUNK_PARAMS);
  return starts.map((s, i) => {
    const e = i + 1 < starts.length ? starts[i + 1]! : data.length;
    return { hash: createHash('sha256').update(data.subarray(s, e)).digest('hex'), size: e - s };
  });
}

const files: [string, Buffer][] = [
  ['empty', Buffer.alloc(0)],
  ['small', Buffer.from('hello')],
  ['random 37 MiB (crosses read windows)', randomBytes(37 * 1024 * 1024 + 12345)],
  ['zeros 20 MiB (all max-size chunks)', Buffer.alloc(20 * 1024 * 1024)],
];

t.test('chunkFile equals whole-buffer chunking and hashing', async (t) => {
  for (const [name, data] of files) {
    const p = path.join(dir, name.replace(/\W+/g, '_'));
    writeFileSync(p, data);
    const got = await chunkFile(p);
    t.equal(got.size, data.length, `${name}: size`);
    t.same(got.blocks, reference(data), `${name}: blocks`);
  }
});

t.test('the worker pool gives the same answer, runs files concurrently, and reports errors', async (t) => {
  const pool = new ChunkWorkerPool(2);
  t.teardown(() => pool.close());
  const paths = files.map(([name]) => path.join(dir, name.replace(/\W+/g, '_')));
  const results = await Promise.all(paths.map((p) => pool.chunk(p)));
  results.forEach((r, i) => t.same(r.blocks, reference(files[i]![1]), files[i]![0]));
  await t.rejects(pool.chunk(path.join(dir, 'missing')), { code: 'ENOENT' });
  // Still usable after an error.
  t.same((await pool.chunk(paths[1]!)).blocks, reference(files[1]![1]));
});

t.test('a one-byte edit in the middle changes only the chunks around it', async (t) => {
  const a = randomBytes(32 * 1024 * 1024);
  const b = Buffer.from(a);
  b[16 * 1024 * 1024]! ^= 1;
  const pa = path.join(dir, 'edit-a');
  const pb = path.join(dir, 'edit-b');
  writeFileSync(pa, a);
  writeFileSync(pb, b);
  const ha = new Set((await chunkFile(pa)).blocks.map((x) => x.hash));
  const bb = (await chunkFile(pb)).blocks;
  const fresh = bb.filter((x) => !ha.has(x.hash));
  t.ok(fresh.length >= 1 && fresh.length <= 2, `${fresh.length} new chunk(s) of ${bb.length}`);
  // Prepending one byte shifts everything, yet content-defined boundaries resynchronise.
  const pc = path.join(dir, 'prepend');
  writeFileSync(pc, Buffer.concat([Buffer.from([7]), a]));
  const pre = (await chunkFile(pc)).blocks.filter((x) => !ha.has(x.hash));
  t.ok(pre.length <= 2, `prepend: ${pre.length} new chunk(s)`);
});

t.test('a streaming job hands each window its blocks in order; together they are the result', async (t) => {
  const data = randomBytes(40 * 1024 * 1024 + 777);
  const p = path.join(dir, 'streamed');
  writeFileSync(p, data);
  const pool = new ChunkWorkerPool(1);
  t.teardown(() => pool.close());
  const windows: { hash: string; size: number }[][] = [];
  const result = await pool.chunk(p, undefined, { onBlocks: (b) => windows.push(b) });
  t.ok(windows.length >= 3, `${windows.length} windows for 40 MiB (16 MiB each)`);
  t.same(windows.flat(), result.blocks);
  t.same(result.blocks, reference(data));
  // The same on this thread.
  const here: { hash: string; size: number }[][] = [];
  t.same((await chunkFile(p, undefined, { onBlocks: (b) => here.push(b) })).blocks, result.blocks);
  t.same(here.flat(), result.blocks);
});

t.test('an aborted chunking stops at the next window; the pool drops queued jobs', async (t) => {
  const data = randomBytes(48 * 1024 * 1024);
  const p = path.join(dir, 'aborted');
  writeFileSync(p, data);
  // On this thread: aborted while the first window's blocks are handed over, it reads no further.
  const abort = new AbortController();
  let windows = 0;
  await t.rejects(
    chunkFile(p, undefined, {
      signal: abort.signal,
      onBlocks: () => {
        windows++;
        abort.abort();
      },
    }),
  );
  t.equal(windows, 1);
  // In the pool: a job aborted while it waits for the worker never runs; one aborted while it runs
  // ends one way or the other, and the worker goes on with the next.
  const pool = new ChunkWorkerPool(1);
  t.teardown(() => pool.close());
  const running = new AbortController();
  const first = pool.chunk(p, undefined, { signal: running.signal, onBlocks: () => running.abort() });
  const queued = new AbortController();
  let queuedRan = false;
  const second = pool.chunk(p, undefined, { signal: queued.signal, onBlocks: () => (queuedRan = true) });
  queued.abort();
  await t.rejects(second);
  await first.then(
    () => {},
    () => {},
  );
  t.equal(queuedRan, false, 'the queued job never ran');
  const small = path.join(dir, 'after');
  writeFileSync(small, 'next');
  t.equal((await pool.chunk(small)).size, 4);
  await t.rejects(pool.chunk(p, undefined, { signal: AbortSignal.abort() }));
});

// A file still being written (chunk-ahead.ts): chunked only as far as the frontier says, window by
// window as it grows, with the same blocks as the whole file chunked at once.
t.test('chunkFile with a frontier: reads only final bytes, same blocks as the whole file', async (t) => {
  const data = randomBytes(45 * 1024 * 1024 + 777);
  const step = 3 * 1024 * 1024 + 11;
  for (const via of ['this thread', 'a worker'] as const) {
    const p = path.join(dir, `growing-${via.replace(' ', '-')}`);
    writeFileSync(p, Buffer.alloc(0));
    const fd = openSync(p, 'r+');
    const frontier = new Frontier();
    const pool = via === 'a worker' ? new ChunkWorkerPool(1) : null;
    const streamed: number[] = [];
    const options = { frontier, onBlocks: (b: unknown[]) => void streamed.push(b.length) };
    const job = pool ? pool.chunk(p, undefined, options) : chunkFile(p, undefined, options);
    // Past the frontier the file holds garbage that is about to be overwritten: never read.
    for (let at = 0; at < data.length; at += step) {
      const end = Math.min(at + step, data.length);
      writeSync(fd, data, at, end - at, at);
      writeSync(fd, randomBytes(1024), 0, 1024, end);
      frontier.advance(end);
      await new Promise((r) => setTimeout(r, 2));
    }
    ftruncateSync(fd, data.length);
    closeSync(fd);
    frontier.finish(data.length);
    const got = await job;
    t.equal(got.size, data.length, `${via}: size`);
    t.same(got.blocks, reference(data), `${via}: blocks`);
    t.ok(streamed.length > 1, `${via}: blocks were told window by window (${streamed.length} times)`);
    await pool?.close();
  }
});

t.test('chunkFile with a frontier: a file shorter than its final size, a failed frontier', async (t) => {
  const p = path.join(dir, 'short');
  writeFileSync(p, randomBytes(100_000));
  const frontier = new Frontier();
  frontier.finish(200_000);
  await t.rejects(
    chunkFile(p, undefined, { frontier }),
    { code: 'CONFLICT' },
    'CONFLICT, not blocks of a different file',
  );
  const stopped = new Frontier();
  const job = chunkFile(p, undefined, { frontier: stopped });
  stopped.fail(new Error('chunking ahead stopped'));
  await t.rejects(job, /stopped/, 'a waiting chunker ends when its frontier fails');
  const pool = new ChunkWorkerPool(1);
  const abort = new AbortController();
  const inWorker = pool.chunk(p, undefined, { frontier: new Frontier(), signal: abort.signal });
  setTimeout(() => abort.abort(new Error('given up')), 20);
  await t.rejects(inWorker, 'a worker waiting on its frontier stops when the job is aborted');
  t.same((await pool.chunk(p)).size, 100_000, 'and the worker takes the next job');
  await pool.close();
});
