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
  t.same(a.stats, { started: 1, used: 1 });
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
    t.same(a.stats, { started: 1, used: 0 }, name);
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
