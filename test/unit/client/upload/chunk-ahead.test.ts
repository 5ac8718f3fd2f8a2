import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { chunkFile, type ChunkOptions } from '../../../../src/client/chunk/chunk-file.js';
import { chunkStarts, DEFAULT_CHUNK_PARAMS } from '../../../../src/client/chunk/streaming-chunker.js';
import { StagingFile } from '../../../../src/client/staging/staging-file.js';
import { ChunkAhead } from '../../../../src/client/upload/chunk-ahead.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'loft-ahead-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const MiB = 1024 * 1024;

function reference(data: Buffer) {
  const starts = chunkStarts(data, DEFAULT_CHUNK_PARAMS);
  return starts.map((s, i) => {
    const e = i + 1 < starts.length ? starts[i + 1]! : data.length;
    return { hash: createHash('sha256').update(data.subarray(s, e)).digest('hex'), size: e - s };
  });
}

/** A ChunkAhead over this thread's chunkFile that counts the bytes its chunker was started on. */
function ahead(now = () => 0) {
  const started: string[] = [];
  const a = new ChunkAhead(
    (p: string, o: ChunkOptions) => {
      started.push(path.basename(p));
      return chunkFile(p, undefined, o);
    },
    { min: 4 * MiB, now },
  );
  return { a, started };
}

let n = 0;
async function newFile(a: ChunkAhead): Promise<StagingFile> {
  const f = await StagingFile.create(dir, `n-${n++}`, 0);
  a.watch(f);
  return f;
}

async function writeInOrder(f: StagingFile, data: Buffer, step = MiB + 3): Promise<void> {
  for (let at = 0; at < data.length; at += step) await f.write(at, data.subarray(at, at + step));
}

t.test('a file written in order: chunked while written, taken whole at its size', async (t) => {
  const { a, started } = ahead();
  const f = await newFile(a);
  const data = randomBytes(37 * MiB + 5);
  await writeInOrder(f, data);
  t.equal(started.length, 1, 'chunking started once the file passed the minimum');
  const got = a.take(f, data.length);
  t.ok(got, 'the upload takes it');
  await got!.feed.done;
  t.same(
    got!.feed.all.map(({ hash, size }) => ({ hash, size })),
    reference(data),
    'the blocks of the whole file',
  );
  t.same(a.stats, { started: 1, used: 1, sentBytes: 0 });
  t.equal(a.take(f, data.length), null, 'taken once');
  t.same(readFileSync(f.path), data);
  await f.close();
});

t.test('a write elsewhere, a truncate, a size that differs: the upload chunks it itself', async (t) => {
  const cases: [string, (f: StagingFile, data: Buffer) => Promise<number>][] = [
    ['an overwrite of its start', async (f) => (await f.write(0, randomBytes(10)), f.size)],
    ['a truncate', async (f, d) => (await f.truncate(d.length - 100), f.size)],
    ['more bytes than the upload expects', async (f) => f.size - 1],
    ['a removal', async (f) => (await f.remove(), f.size)],
  ];
  for (const [name, act] of cases) {
    const { a } = ahead();
    const f = await newFile(a);
    const data = randomBytes(9 * MiB);
    await writeInOrder(f, data);
    const size = await act(f, data);
    t.equal(a.take(f, size), null, `${name}: nothing to take`);
    t.same(a.stats, { started: 1, used: 0, sentBytes: 0 }, name);
    await f.close().catch(() => {});
  }
});

t.test('one file at a time; a file that stopped growing gives its lane to the next', async (t) => {
  let clock = 0;
  const { a, started } = ahead(() => clock);
  const first = await newFile(a);
  const second = await newFile(a);
  const data = randomBytes(6 * MiB);
  await writeInOrder(first, data);
  await writeInOrder(second, data);
  t.equal(started.length, 1, 'the second waits: the lane is busy');
  t.equal(a.take(second, data.length), null);
  clock += 10_000;
  await second.write(data.length, randomBytes(10));
  t.equal(started.length, 2, 'the first has not grown for 10 s: the second takes the lane');
  t.equal(a.take(first, data.length), null, 'the first is chunked at its close');
  const got = a.take(second, data.length + 10);
  t.ok(got);
  await got!.feed.done;
  t.equal(
    got!.feed.all.reduce((s, b) => s + b.size, 0),
    data.length + 10,
  );
  await first.close();
  await second.close();
});

t.test('small files are never chunked ahead', async (t) => {
  const { a, started } = ahead();
  const f = await newFile(a);
  await writeInOrder(f, randomBytes(3 * MiB));
  t.equal(started.length, 0);
  t.equal(a.take(f, 3 * MiB), null);
  await f.close();
});

t.test(
  'blocks are sent ahead window by window; the upload takes over from the window under way',
  async (t) => {
    const calls: { offsets: number[]; bytes: number }[] = [];
    const held: { release: (() => void) | null } = { release: null };
    const gate = () => new Promise<void>((r) => (held.release = r));
    let hold = false;
    const a = new ChunkAhead((p, o) => chunkFile(p, undefined, o), {
      min: 4 * MiB,
      sendMin: 20 * MiB,
      send: async (blocks, read) => {
        if (hold) await gate();
        const bytes = (await Promise.all(blocks.map((b) => read(b.offset, b.size)))).reduce(
          (n, b) => n + b.length,
          0,
        );
        calls.push({ offsets: blocks.map((b) => b.offset), bytes });
        return { bytes, blocks: blocks.length };
      },
    });
    const f = await StagingFile.create(dir, `n-${n++}`, 0);
    a.watch(f);
    const data = randomBytes(60 * MiB);
    await writeInOrder(f, data.subarray(0, 16 * MiB));
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    t.equal(calls.length, 0, 'nothing sent before the file passes sendMin');
    for (let at = 16 * MiB; at < 40 * MiB; at += MiB) await f.write(at, data.subarray(at, at + MiB));
    // Let the chunker catch up with the frontier (it reads 16 MiB windows): poll, no clock.
    while (calls.length < 1) await new Promise((r) => setImmediate(r));
    t.equal(calls[0]!.offsets[0], 0, 'from the start of the file');
    const sentEarly = calls.reduce((n, c) => n + c.bytes, 0);
    hold = true;
    for (let at = 40 * MiB; at < data.length; at += MiB) await f.write(at, data.subarray(at, at + MiB));
    while (held.release === null) await new Promise((r) => setImmediate(r));
    const got = a.take(f, data.length)!;
    let sentDone = false;
    void got.sent.then(() => (sentDone = true));
    await new Promise((r) => setImmediate(r));
    t.notOk(sentDone, 'the window under way is waited for');
    hold = false;
    held.release();
    await got.sent;
    await got.feed.done;
    const sent = calls.flatMap((c) => c.offsets);
    t.same(
      sent,
      [...sent].sort((x, y) => x - y),
      'in file order, each once',
    );
    t.ok(new Set(sent).size === sent.length);
    t.ok(
      sentEarly > 0 && sent.length < got.feed.all.length,
      'part of the file sent ahead, the rest left to the upload',
    );
    t.same(
      got.feed.all.map(({ hash, size }) => ({ hash, size })),
      reference(data),
      'the blocks of the whole file',
    );
    await f.close();
  },
);

t.test('a failed send stops sending ahead, and the chunking goes on', async (t) => {
  let sends = 0;
  const a = new ChunkAhead((p, o) => chunkFile(p, undefined, o), {
    min: 4 * MiB,
    sendMin: 20 * MiB,
    send: async () => {
      sends++;
      throw new Error('offline');
    },
  });
  const f = await StagingFile.create(dir, `n-${n++}`, 0);
  a.watch(f);
  const data = randomBytes(50 * MiB);
  await writeInOrder(f, data);
  while (sends < 1) await new Promise((r) => setImmediate(r));
  const got = a.take(f, data.length)!;
  await got.sent;
  await got.feed.done;
  t.equal(sends, 1, 'no send after the first failure');
  t.equal(
    got.feed.all.reduce((s, b) => s + b.size, 0),
    data.length,
  );
  t.same(a.stats.sentBytes, 0);
  await f.close();
});
