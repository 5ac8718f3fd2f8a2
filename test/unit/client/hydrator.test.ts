/** Hydrator: byte ranges → verified blocks, single-flight, refetch on corruption, readahead, offline. */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { DiskBlockCache } from '../../../src/client/cache/disk-block-cache.js';
import { findExtent, Hydrator, newReadState, type ReadState } from '../../../src/client/hydrate/hydrator.js';
import type { BlockExtent } from '../../../src/client/mirror/mirror.js';
import {
  block,
  FakeSource,
  prng,
  SimpleConnectivity,
  sleep,
  tmpDirs,
  waitFor,
  type Block,
} from './fake-block-source.js';

const tmp = tmpDirs(t, 'loft-hydrate-');
const MiB = 1024 * 1024;

interface Setup {
  dir: string;
  cache: DiskBlockCache;
  source: FakeSource;
  net: SimpleConnectivity;
  h: Hydrator;
}

function setup(
  t: Test,
  o: { cap?: number; memoryBytes?: number; online?: boolean; dir?: string; source?: FakeSource } = {},
): Setup {
  const dir = o.dir ?? tmp();
  const cache = new DiskBlockCache({ dir, capBytes: o.cap ?? 256 * MiB });
  const source = o.source ?? new FakeSource();
  const net = new SimpleConnectivity(o.online ?? true);
  const h = new Hydrator({
    source,
    cache,
    connectivity: net,
    ...(o.memoryBytes !== undefined ? { memoryBytes: o.memoryBytes } : {}),
  });
  t.teardown(async () => {
    h.close();
    await cache.close();
  });
  return { dir, cache, source, net, h };
}

interface TestFile {
  blocks: Block[];
  extents: BlockExtent[];
  size: number;
  content: Buffer;
}

function makeFile(source: FakeSource, sizes: number[]): TestFile {
  const blocks = sizes.map((s) => block(s));
  source.add(...blocks);
  let offset = 0;
  const extents = blocks.map((b) => {
    const e = { hash: b.hash, offset, size: b.data.length };
    offset += b.data.length;
    return e;
  });
  return { blocks, extents, size: offset, content: Buffer.concat(blocks.map((b) => b.data)) };
}

const FILL = 0xee;
async function readAt(h: Hydrator, f: TestFile, offset: number, length: number, state?: ReadState) {
  const out = Buffer.alloc(length, FILL);
  const n = await h.read(f.extents, f.size, offset, out, state);
  return { n, out };
}

/** Checks a read against the file content: right count, right bytes, nothing written past them. */
async function check(t: Test, h: Hydrator, f: TestFile, offset: number, length: number): Promise<void> {
  const { n, out } = await readAt(h, f, offset, length);
  const want = f.content.subarray(Math.min(offset, f.size), Math.min(offset + length, f.size));
  if (n !== want.length) t.fail(`read(${offset}, ${length}) returned ${n}, want ${want.length}`);
  else if (!out.subarray(0, n).equals(want)) t.fail(`read(${offset}, ${length}) returned wrong bytes`);
  else if (!out.subarray(n).every((x) => x === FILL)) t.fail(`read(${offset}, ${length}) wrote past ${n}`);
  else t.pass(`read(${offset}, ${length}) = ${n} bytes`);
}

t.test('read() returns exactly the requested bytes across block boundaries and at EOF', async (t) => {
  const { h, source } = setup(t);
  const f = makeFile(source, [1000, 5000, 3000, 7, 4096, 12000]); // 25103 bytes
  t.equal(f.size, 25103);
  const ends = [1000, 6000, 9000, 9007, 13103];
  await check(t, h, f, 0, 10); // inside the first block
  await check(t, h, f, 990, 20); // across one boundary
  await check(t, h, f, 500, 8000); // spans blocks 0, 1 and 2
  await check(t, h, f, 8990, 30); // 2 → 3 (7 bytes) → 4
  await check(t, h, f, 1000, 5000); // exactly one whole block
  for (const e of ends) {
    await check(t, h, f, e - 1, 2);
    await check(t, h, f, e, 1);
  }
  await check(t, h, f, 0, f.size); // the whole file
  await check(t, h, f, 25000, 4096); // short read at EOF: 103 bytes
  await check(t, h, f, f.size - 1, 100); // last byte only
  await check(t, h, f, 0, f.size + 5000);
  const rnd = prng(1);
  for (let i = 0; i < 300; i++) {
    const off = Math.floor(rnd() * (f.size + 10));
    await check(t, h, f, off, Math.floor(rnd() * 14_000));
  }
});

t.test('0-length and at/over-EOF reads return 0 and fetch nothing', async (t) => {
  const { h, source } = setup(t);
  const f = makeFile(source, [1000, 2000]);
  for (const [off, len] of [
    [0, 0],
    [500, 0],
    [3000, 10],
    [3001, 10],
    [1e9, 4096],
  ] as const) {
    const { n, out } = await readAt(h, f, off, len);
    t.equal(n, 0, `read(${off}, ${len}) = 0`);
    t.ok(
      out.every((x) => x === FILL),
      'buffer untouched',
    );
  }
  t.equal(source.calls.length, 0, 'no block fetched');
  const empty: TestFile = { blocks: [], extents: [], size: 0, content: Buffer.alloc(0) };
  t.equal((await readAt(h, empty, 0, 100)).n, 0, 'an empty file reads as empty');
});

t.test('single-flight: concurrent reads of one block share one fetch', async (t) => {
  const { h, source } = setup(t);
  source.delayMs = 50;
  const f = makeFile(source, [64 * 1024, 64 * 1024]);
  const reads = Array.from({ length: 10 }, (_, i) => readAt(h, f, i * 1000, 3000));
  const results = await Promise.all(reads);
  results.forEach(({ n, out }, i) => {
    t.equal(n, 3000);
    t.ok(
      out.subarray(0, n).equals(f.content.subarray(i * 1000, i * 1000 + 3000)),
      `reader ${i} got its bytes`,
    );
  });
  t.equal(source.count(f.blocks[0]!.hash), 1, 'block 0 fetched once for 10 readers');
  t.equal(source.calls.length, 1, 'nothing else fetched');
  // readers straddling both blocks plus a reader of each: still one fetch per block
  const h2 = setup(t, { source: new FakeSource().add(...f.blocks) });
  h2.source.delayMs = 30;
  await Promise.all([
    ...Array.from({ length: 5 }, () => readAt(h2.h, f, 60_000, 10_000)),
    readAt(h2.h, f, 0, 10),
    readAt(h2.h, f, 100_000, 10),
  ]);
  t.same(
    f.blocks.map((b) => h2.source.count(b.hash)),
    [1, 1],
  );
  t.equal(h2.h.downloadedBlocks, 2);
});

t.test('a block that comes back wrong once is refetched and served right', async (t) => {
  for (const kind of ['flip', 'truncate'] as const) {
    const { h, source, cache } = setup(t);
    const f = makeFile(source, [20_000, 30_000]);
    const target = f.blocks[1]!;
    source.wrongKind = kind;
    source.wrong.set(target.hash, 1);
    const { n, out } = await readAt(h, f, 15_000, 20_000);
    t.equal(n, 20_000);
    t.ok(out.equals(f.content.subarray(15_000, 35_000)), `${kind}: right bytes served`);
    t.equal(source.count(target.hash), 2, `${kind}: fetched twice`);
    const wrongLen = kind === 'flip' ? 30_000 : 15_000;
    t.equal(
      h.downloadedBytes,
      20_000 + wrongLen + 30_000,
      `${kind}: downloadedBytes counts the bad payload too`,
    );
    t.equal(h.downloadedBlocks, 3);
    t.same(await cache.get(target.hash), target.data, `${kind}: the good copy is what got cached`);
  }
});

t.test('a block wrong twice rejects with CORRUPT and nothing is cached', async (t) => {
  const { h, source, cache } = setup(t);
  const f = makeFile(source, [10_000, 10_000]);
  const bad = f.blocks[0]!;
  source.wrong.set(bad.hash, 2);
  await t.rejects(readAt(h, f, 0, 100), { code: 'CORRUPT' });
  t.equal(source.count(bad.hash), 2, 'tried twice, no more');
  t.equal(cache.has(bad.hash), false, 'not in the disk cache');
  t.equal(cache.usage().usedBytes, 0);
  t.equal(h.pending.blocks, 0, 'no flight left behind');
  // nothing was kept in memory either: the next read goes to the source again and now succeeds
  const { n, out } = await readAt(h, f, 0, 100);
  t.equal(n, 100);
  t.ok(out.equals(bad.data.subarray(0, 100)));
  t.equal(source.count(bad.hash), 3);
  // a read spanning a corrupt block and a good one fails as a whole
  const g = makeFile(source, [5000, 5000]);
  source.wrong.set(g.blocks[0]!.hash, 2);
  await t.rejects(readAt(h, g, 4000, 2000), { code: 'CORRUPT' });
  t.equal(cache.has(g.blocks[0]!.hash), false);
});

t.test(
  'regression: a later block failing before an earlier one arrives is no unhandled rejection',
  async (t) => {
    // read() awaits its blocks in order and only attaches handlers to the others in `finally`; a later
    // block that rejects while an earlier one is still downloading is an unhandled rejection, which
    // terminates a Node 20 process (the drive) by default. The read must just reject.
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown) => unhandled.push(err);
    process.on('unhandledRejection', onUnhandled);
    t.teardown(() => {
      process.off('unhandledRejection', onUnhandled);
    });
    for (const failure of ['corrupt', 'unavailable'] as const) {
      const { h, source } = setup(t, { online: failure === 'corrupt' });
      const f = makeFile(source, [5000, 5000]);
      source.delays.set(f.blocks[0]!.hash, 150); // the first block is slow...
      if (failure === 'corrupt')
        source.wrong.set(f.blocks[1]!.hash, 2); // ...the second fails at once
      else source.delays.set(f.blocks[1]!.hash, 0);
      if (failure === 'unavailable') source.unavailableUntil = Date.now() + 100; // only the fast one fails
      await t.rejects(readAt(h, f, 4000, 2000), { code: failure === 'corrupt' ? 'CORRUPT' : 'UNAVAILABLE' });
      await sleep(50);
    }
    t.same(
      unhandled.map((e) => (e as { code?: string }).code),
      [],
      'no unhandled rejection (codes of those seen are listed)',
    );
  },
);

t.test('downloadedBytes counts every fetched payload byte exactly once per fetch', async (t) => {
  const { h, source } = setup(t);
  const sizes = [1, 4095, 4096, 4097, 100_000, 33];
  const f = makeFile(source, sizes);
  const total = sizes.reduce((a, b) => a + b, 0);
  await check(t, h, f, 0, total);
  t.equal(h.downloadedBytes, total);
  t.equal(h.downloadedBlocks, sizes.length);
  t.equal(h.downloadedBytes, source.servedBytes);
  await check(t, h, f, 0, total);
  await check(t, h, f, 5000, 50_000);
  t.equal(h.downloadedBytes, total, 'served again from memory/cache: nothing more downloaded');
  t.equal(source.calls.length, sizes.length);
});

t.test('sequential reads with a ReadState trigger readahead beyond the read range', async (t) => {
  const { h, source } = setup(t);
  const BS = 16 * 1024;
  const f = makeFile(source, Array(64).fill(BS)); // 1 MiB, well inside the first window
  const state = newReadState();
  await readAt(h, f, 0, BS, state);
  await readAt(h, f, BS, BS, state);
  await readAt(h, f, 2 * BS, BS, state);
  await waitFor(() => h.pending.blocks === 0, 5000, 'readahead to finish');
  const fetched = new Set(source.calls);
  const beyond = f.blocks.slice(3).filter((b) => fetched.has(b.hash)).length;
  t.ok(beyond > 0, `readahead fetched ${beyond} blocks past the reads`);
  t.equal(beyond, 61, 'the whole rest of the file is within the first 2 MiB window');
  t.equal(source.calls.length, 64, 'each block fetched once');
  // reads of the prefetched range now cost nothing
  const calls = source.calls.length;
  for (let i = 3; i < 64; i++) await readAt(h, f, i * BS, BS, state);
  t.equal(source.calls.length, calls);
});

t.test(
  'readahead is bounded by its window: a 16 MiB file is not fetched whole after two reads',
  async (t) => {
    const { h, source } = setup(t);
    const BS = 256 * 1024;
    const f = makeFile(source, Array(64).fill(BS));
    const state = newReadState();
    await readAt(h, f, 0, BS, state);
    await readAt(h, f, BS, BS, state);
    await waitFor(() => h.pending.blocks === 0, 5000, 'readahead to finish');
    const fetched = f.blocks.map((b) => source.count(b.hash) > 0);
    const ahead = fetched.slice(2).filter(Boolean).length;
    t.ok(ahead >= 4, `fetched ${ahead} blocks ahead`);
    t.ok(ahead <= 16, 'no more than a few windows ahead');
    t.equal(fetched.lastIndexOf(true) - 1, ahead, 'the blocks fetched ahead are the next ones, contiguous');
  },
);

t.test('a random read pattern does not trigger readahead', async (t) => {
  const { h, source } = setup(t);
  // Reads count as sequential when they land near the stream position (the kernel reorders a
  // little), so the jumps here are all well over a megabyte.
  const BS = 256 * 1024;
  const f = makeFile(source, Array(64).fill(BS));
  const state = newReadState();
  const order = [40, 3, 27, 10, 55, 18, 33, 5, 62, 0, 47, 21];
  for (const i of order) {
    const { n } = await readAt(h, f, i * BS + 100, 1000, state);
    t.equal(n, 1000);
  }
  // whole-block reads that are not adjacent either
  for (const i of [50, 12, 36]) await readAt(h, f, i * BS, BS, state);
  await sleep(50);
  await waitFor(() => h.pending.blocks === 0);
  const want = new Set([...order, 50, 12, 36].map((i) => f.blocks[i]!.hash));
  t.same(new Set(source.calls), want, 'only the demanded blocks were fetched');
  t.equal(source.calls.length, want.size);
});

t.test('offline: a demanded read fails within a bounded time and marks the connection offline', async (t) => {
  const { h, source, net } = setup(t);
  const f = makeFile(source, [10_000, 10_000]);
  source.unavailable = true;
  const start = Date.now();
  await t.rejects(readAt(h, f, 0, 100), { code: 'UNAVAILABLE' });
  const elapsed = Date.now() - start;
  t.ok(elapsed < 6000, `rejected after ${elapsed} ms`);
  t.equal(net.online, false, 'connectivity went offline');
  t.equal(h.pending.blocks, 0);

  // already offline: one attempt, fast
  const before = source.calls.length;
  const start2 = Date.now();
  await t.rejects(readAt(h, f, 15_000, 100), { code: 'UNAVAILABLE' });
  t.ok(Date.now() - start2 < 500, `failed fast (${Date.now() - start2} ms)`);
  t.equal(source.calls.length - before, 1, 'exactly one attempt while offline');
  t.equal(h.downloadedBytes, 0);

  // back: the next read succeeds and marks the connection online again
  source.unavailable = false;
  await check(t, h, f, 0, 20_000);
  t.equal(net.online, true);
});

t.test('regression: a demanded read while online retries for the whole budget, not ~200 ms', async (t) => {
  // Header contract: "while online it is retried with backoff for up to RETRY_BUDGET_MS, which
  // rides out a server restart". A 1 s outage must not fail the read.
  const { h, source, net } = setup(t);
  const f = makeFile(source, [10_000]);
  source.unavailableUntil = Date.now() + 1000;
  const start = Date.now();
  const r = await readAt(h, f, 0, 10_000).catch((err: unknown) => err as Error);
  const elapsed = Date.now() - start;
  t.notOk(
    r instanceof Error,
    `read succeeded after the outage (got ${r instanceof Error ? r.message : 'data'} after ${elapsed} ms)`,
  );
  if (!(r instanceof Error)) t.ok(r.out.equals(f.content));
  t.ok(source.calls.length > 2, `retried ${source.calls.length} times`);
  t.equal(net.online, true, 'online again once the block arrived');
});

t.test('blocks served from the disk cache do not call the source', async (t) => {
  const first = setup(t);
  const f = makeFile(first.source, [50_000, 1, 70_000, 4096]);
  await check(t, first.h, f, 0, f.size);
  t.equal(first.source.calls.length, 4);
  // A new hydrator (empty memory) over the same cache
  const src2 = new FakeSource().add(...f.blocks);
  const h2 = new Hydrator({ source: src2, cache: first.cache, connectivity: new SimpleConnectivity() });
  t.teardown(() => h2.close());
  await check(t, h2, f, 0, f.size);
  await check(t, h2, f, 49_990, 30);
  t.equal(src2.calls.length, 0, 'all from the disk cache');
  t.equal(h2.downloadedBytes, 0);
  await first.cache.close();

  // The cache reopened from disk (as after a restart)
  const second = setup(t, { dir: first.dir, source: new FakeSource().add(...f.blocks) });
  await check(t, second.h, f, 0, f.size);
  t.equal(second.source.calls.length, 0, 'still all from disk after reopen');

  // A damaged cache file is refetched (once) and served right
  const victim = f.blocks[2]!;
  const p = path.join(first.dir, 'blocks', victim.hash.slice(0, 2), victim.hash);
  const bytes = readFileSync(p);
  bytes[100]! ^= 0xff;
  writeFileSync(p, bytes);
  const third = new Hydrator({
    source: second.source,
    cache: second.cache,
    connectivity: new SimpleConnectivity(),
  });
  t.teardown(() => third.close());
  await check(t, third, f, 0, f.size);
  t.same(second.source.calls, [victim.hash], 'only the damaged block was fetched');
  t.same(await second.cache.get(victim.hash), victim.data, 'and the cache holds a good copy again');
});

t.test('with no memory cache, repeated reads still come from disk, not the source', async (t) => {
  const { h, source } = setup(t, { memoryBytes: 0 });
  const f = makeFile(source, [30_000, 30_000]);
  for (let i = 0; i < 5; i++) await check(t, h, f, 0, f.size);
  t.equal(source.calls.length, 2);
});

t.test('views(): the bytes as views of the verified blocks, in order, without a copy', async (t) => {
  const { h, source } = setup(t);
  const f = makeFile(source, [5000, 7000, 3000]);
  const views = await h.views(f.extents, f.size, 4000, 5000);
  t.same(
    views.map((v) => v.length),
    [1000, 4000],
    'one view per block the range covers',
  );
  t.same(Buffer.concat(views), f.content.subarray(4000, 9000));
  const again = await h.views(f.extents, f.size, 5000, 7000);
  t.equal(again.length, 1);
  t.equal(again[0]!.buffer, views[1]!.buffer, 'the same memory as the block kept in memory (no copy)');
  t.same(await h.views(f.extents, f.size, f.size, 10), [], 'nothing at EOF');
  const tail = await h.views(f.extents, f.size, 14_000, 5000);
  t.same(Buffer.concat(tail), f.content.subarray(14_000), 'short at EOF');
});

t.test(
  'blocks are verified with the injected SHA-256 (io), and one that does not match is never served',
  async (t) => {
    const dir = tmp();
    const cache = new DiskBlockCache({ dir, capBytes: 64 * MiB });
    const source = new FakeSource();
    const f = makeFile(source, [4096, 4096]);
    const bad = f.blocks[1]!.hash;
    const hashed: number[] = [];
    const h = new Hydrator({
      source,
      cache,
      connectivity: new SimpleConnectivity(true),
      io: {
        // Asynchronous, as the binding's thread-pool job; lies about one block.
        sha256: async (data) => {
          hashed.push(data.length);
          await sleep(1);
          const real = (await import('../../../src/shared/hash.js')).sha256hex(data);
          return real === bad ? '0'.repeat(64) : real;
        },
      },
    });
    t.teardown(async () => {
      h.close();
      await cache.close();
    });
    const { n, out } = await readAt(h, f, 0, 4096);
    t.equal(n, 4096);
    t.same(out, f.content.subarray(0, 4096));
    t.ok(hashed.length >= 1, 'the injected hash ran');
    await t.rejects(h.read(f.extents, f.size, 4096, Buffer.alloc(4096)), { code: 'CORRUPT' });
    t.notOk(cache.has(bad), 'the block that did not verify is not cached');
    t.equal(source.count(bad), 2, 'fetched twice, then refused');
  },
);

t.test('a read further on but inside the readahead window continues the stream', async (t) => {
  // The binding answers the reads in between from the cache (fuse/cached-reads.ts): the next read
  // the hydrator sees lands past the slack of one block, inside the window it scheduled.
  const { h, source } = setup(t);
  const BS = 1024 * 1024;
  const f = makeFile(source, Array(40).fill(BS));
  const state = newReadState();
  await readAt(h, f, 0, BS, state);
  await readAt(h, f, BS, BS, state);
  await readAt(h, f, 2 * BS, BS, state);
  await waitFor(() => h.pending.blocks === 0, 5000, 'readahead to finish');
  const window = state.window;
  t.ok(window >= 4 * BS, `the window has grown (${window / BS} MiB)`);
  const jump = 3 * BS + window - BS; // inside the window, well past SEQUENTIAL_SLACK
  await readAt(h, f, jump, BS, state);
  t.ok(state.window >= window, 'the window was not reset');
  await waitFor(() => h.pending.blocks === 0, 5000, 'readahead to finish');
  const past = f.blocks.slice(jump / BS + 1).filter((b) => source.count(b.hash) > 0).length;
  t.ok(past > 0, `readahead went on past the jump (${past} blocks)`);
});

t.test('findExtent: binary search on edge offsets', async (t) => {
  const ext = (sizes: number[]): BlockExtent[] => {
    let o = 0;
    return sizes.map((s, i) => {
      const e = { hash: String(i), offset: o, size: s };
      o += s;
      return e;
    });
  };
  const e = ext([1000, 5000, 3000, 7]); // starts 0, 1000, 6000, 9000; EOF 9007
  const cases: [number, number][] = [
    [0, 0],
    [1, 0],
    [999, 0],
    [1000, 1],
    [1001, 1],
    [5999, 1],
    [6000, 2],
    [8999, 2],
    [9000, 3],
    [9006, 3],
    [9007, 3],
    [1e12, 3],
  ];
  for (const [off, want] of cases) t.equal(findExtent(e, off), want, `offset ${off} → extent ${want}`);
  t.equal(findExtent(ext([10]), 0), 0);
  t.equal(findExtent(ext([10]), 9), 0);
  t.equal(findExtent(ext([1, 1]), 1), 1);
  t.equal(findExtent([], 0), 0);
  // every boundary of a long, irregular list agrees with a linear scan
  const rnd = prng(3);
  const long = ext(Array.from({ length: 1001 }, () => 1 + Math.floor(rnd() * 5000)));
  let bad = 0;
  for (let i = 0; i < long.length; i++) {
    const x = long[i]!;
    for (const off of [x.offset, x.offset + x.size - 1]) if (findExtent(long, off) !== i) bad++;
    if (x.size > 2 && findExtent(long, x.offset + 1) !== i) bad++;
  }
  t.equal(bad, 0, 'all 1001 extents found at their first and last byte');
});
