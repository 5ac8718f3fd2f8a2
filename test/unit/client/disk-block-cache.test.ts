/** DiskBlockCache: hard cap, scan-resistant eviction, pins and held blocks, verify on read, persistence. */
import { pbkdf2 } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { DiskBlockCache, type DiskBlockCacheOptions } from '../../../src/client/cache/disk-block-cache.js';
import { block, prng, tmpDirs, type Block } from './fake-block-source.js';

const tmp = tmpDirs(t, 'loft-cache-');
const K = 4096;
/** What the cache must charge for a block: its size rounded up to 4 KiB, at least 4 KiB. */
const alloc = (n: number) => Math.max(K, Math.ceil(n / K) * K);

const open: DiskBlockCache[] = [];
t.teardown(async () => {
  for (const c of open) await c.close();
});
function cache(options: Partial<DiskBlockCacheOptions> & { dir: string; capBytes: number }): DiskBlockCache {
  const c = new DiskBlockCache(options);
  open.push(c);
  return c;
}

/** A clock the test controls: every call is one tick later. */
function ticker(start = 1): () => number {
  let now = start;
  return () => now++;
}

function filePath(dir: string, hash: string): string {
  return path.join(dir, 'blocks', hash.slice(0, 2), hash);
}

/** Every file under <dir>/blocks/<shard>/, with its size. */
function files(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  const root = path.join(dir, 'blocks');
  for (const shard of readdirSync(root)) {
    const sp = path.join(root, shard);
    if (!statSync(sp).isDirectory()) {
      out.set(shard, statSync(sp).size);
      continue;
    }
    for (const name of readdirSync(sp)) out.set(name, statSync(path.join(sp, name)).size);
  }
  return out;
}

function diskAllocated(dir: string): number {
  let n = 0;
  for (const size of files(dir).values()) n += alloc(size);
  return n;
}

/** The on-disk files are exactly the blocks the cache claims, and its usage is their allocation. */
function assertConsistent(t: Test, dir: string, c: DiskBlockCache, blocks: Iterable<Block>): void {
  const onDisk = files(dir);
  const u = c.usage();
  let expected = 0;
  let n = 0;
  const leftovers: string[] = [];
  const damaged: string[] = [];
  for (const b of blocks) {
    if (!c.has(b.hash)) {
      if (onDisk.has(b.hash)) leftovers.push(b.hash.slice(0, 8));
      continue;
    }
    n++;
    expected += alloc(b.data.length);
    if (onDisk.get(b.hash) !== b.data.length) damaged.push(b.hash.slice(0, 8));
  }
  t.same(leftovers, [], 'no evicted block still has a file on disk');
  t.same(damaged, [], 'every cached block has its whole file');
  t.equal(u.blocks, n, 'block count matches has()');
  t.equal(u.usedBytes, expected, 'usedBytes = sum of 4 KiB-rounded sizes of cached blocks');
  t.equal(onDisk.size, n, 'no file on disk beyond the cached blocks');
  t.ok(u.usedBytes <= u.capBytes, `usedBytes ${u.usedBytes} <= cap ${u.capBytes}`);
}

t.test('usedBytes never exceeds the cap over random puts and gets; accounting rounds to 4 KiB', async (t) => {
  const dir = tmp();
  const cap = 150_000; // deliberately not a multiple of 4 KiB
  const c = cache({ dir, capBytes: cap });
  const rnd = prng(42);
  const all: Block[] = [];
  let maxUsed = 0;
  for (let i = 0; i < 400; i++) {
    const r = rnd();
    // a third tiny (1..100 bytes), the rest up to 40 KB, a few exactly on 4 KiB boundaries
    const size =
      r < 0.33
        ? 1 + Math.floor(rnd() * 100)
        : r < 0.4
          ? K * (1 + Math.floor(rnd() * 4))
          : 1 + Math.floor(rnd() * 40_000);
    const b = block(size);
    all.push(b);
    if (!(await c.put(b.hash, b.data))) t.fail(`put ${i} (${size} bytes) declined`);
    maxUsed = Math.max(maxUsed, c.usage().usedBytes);
    if (c.usage().usedBytes > cap) t.fail(`usedBytes ${c.usage().usedBytes} > cap after put ${i}`);
    // re-read a random earlier block now and then (moves it between segments)
    if (rnd() < 0.3) {
      const old = all[Math.floor(rnd() * all.length)]!;
      const got = await c.get(old.hash);
      if (got && !got.equals(old.data)) t.fail('a cached block read back different bytes');
    }
  }
  t.ok(maxUsed <= cap);
  t.ok(maxUsed > cap - 40 * 1024, 'the cache was actually filled');
  assertConsistent(t, dir, c, all);
});

t.test('tiny blocks are charged 4 KiB each: ten fit in 40 KiB, not more', async (t) => {
  const dir = tmp();
  const c = cache({ dir, capBytes: 10 * K });
  const tiny = Array.from({ length: 20 }, () => block(3));
  for (const b of tiny) t.equal(await c.put(b.hash, b.data), true);
  t.equal(c.usage().blocks, 10);
  t.equal(c.usage().usedBytes, 10 * K);
  t.same(
    tiny.map((b) => c.has(b.hash)),
    [...Array(10).fill(false), ...Array(10).fill(true)],
    'the oldest ten were evicted',
  );
  const edge = block(K + 1); // one byte past a unit: two units
  await c.put(edge.hash, edge.data);
  t.equal(c.usage().usedBytes, 10 * K, 'still exactly at the cap');
  t.equal(c.usage().blocks, 9, 'a 4097-byte block displaced two tiny ones');
  assertConsistent(t, dir, c, [...tiny, edge]);
});

t.test('a block larger than the cap is declined without evicting anything', async (t) => {
  const dir = tmp();
  const c = cache({ dir, capBytes: 4 * K });
  const small = block(100);
  await c.put(small.hash, small.data);
  const big = block(4 * K + 1);
  t.equal(await c.put(big.hash, big.data), false);
  t.equal(c.has(big.hash), false);
  t.equal(c.has(small.hash), true, 'declining did not evict the resident block');
  t.equal(c.usage().usedBytes, K);
  t.notOk(existsSync(filePath(dir, big.hash)), 'no file written for the declined block');
  const exact = block(4 * K);
  t.equal(await c.put(exact.hash, exact.data), true, 'a block exactly the cap fits (after evicting)');
  t.equal(c.usage().usedBytes, 4 * K);
  assertConsistent(t, dir, c, [small, big, exact]);
});

t.test('scan resistance: a working set hit twice survives a once-read scan of 4x the cap', async (t) => {
  const dir = tmp();
  const cap = 64 * K;
  const c = cache({ dir, capBytes: cap });
  const working = Array.from({ length: 16 }, () => block(K));
  for (const b of working) await c.put(b.hash, b.data);
  for (const b of working) t.ok(await c.get(b.hash), 'second hit');
  const scan = Array.from({ length: (4 * cap) / K }, () => block(K));
  for (const b of scan) {
    await c.put(b.hash, b.data);
    if (c.usage().usedBytes > cap) t.fail('over cap during the scan');
  }
  const survivors = working.filter((b) => c.has(b.hash)).length;
  t.equal(survivors, working.length, 'every working-set block is still cached');
  for (const b of working) t.same(await c.get(b.hash), b.data);
  t.ok(scan.filter((b) => c.has(b.hash)).length > 0, 'the scan did use the rest of the cache');
  assertConsistent(t, dir, c, [...working, ...scan]);
});

t.test('pinned blocks are never evicted; with only pins left put declines and stays under cap', async (t) => {
  const dir = tmp();
  const pinned = new Set<string>();
  const c = cache({ dir, capBytes: 4 * K, isPinned: (h) => pinned.has(h) });
  const [a, b, x, y] = [block(K), block(K), block(K), block(K)];
  pinned.add(a.hash).add(b.hash);
  for (const blk of [a, b, x, y]) t.equal(await c.put(blk.hash, blk.data), true);
  const others = Array.from({ length: 20 }, () => block(K));
  for (const o of others) {
    if (!(await c.put(o.hash, o.data))) t.fail('room should be made from unpinned blocks');
    if (!(c.has(a.hash) && c.has(b.hash))) t.fail('a pinned block was evicted');
  }
  t.ok(c.has(others.at(-1)!.hash) && c.has(a.hash) && c.has(b.hash));
  // now pin everything that is cached
  for (const o of [x, y, ...others]) if (c.has(o.hash)) pinned.add(o.hash);
  const before = c.usage();
  const extra = block(10);
  t.equal(await c.put(extra.hash, extra.data), false, 'nothing evictable: declined');
  t.equal(c.has(extra.hash), false);
  t.same(c.usage(), before, 'usage unchanged');
  t.ok(c.usage().usedBytes <= 4 * K);
  t.notOk(existsSync(filePath(dir, extra.hash)));
  for (const h of pinned) if (!c.has(h) && h !== x.hash && h !== y.hash) t.fail('a pinned block was evicted');
  assertConsistent(t, dir, c, [a, b, x, y, ...others, extra]);
  c.setCap(2 * K);
  t.ok(c.has(a.hash) && c.has(b.hash), 'a smaller cap does not evict pins either');
});

t.test('held blocks (open files) are evicted only after every unheld block', async (t) => {
  const dir = tmp();
  const held = new Set<string>();
  const c = cache({ dir, capBytes: 4 * K, isHeld: (h) => held.has(h), now: ticker() });
  const [a, b, x, y] = [block(K), block(K), block(K), block(K)];
  for (const blk of [a, b, x, y]) await c.put(blk.hash, blk.data);
  held.add(a.hash).add(b.hash); // the two oldest are held
  const e = block(K);
  await c.put(e.hash, e.data);
  t.same(
    [a, b, x, y].map((q) => c.has(q.hash)),
    [true, true, false, true],
    'oldest unheld (x) went first',
  );
  const f = block(K);
  await c.put(f.hash, f.data);
  t.same(
    [a, b, y].map((q) => c.has(q.hash)),
    [true, true, false],
    'then y',
  );
  held.add(e.hash).add(f.hash); // everything held now
  const g = block(K);
  t.equal(await c.put(g.hash, g.data), true, 'held blocks are evictable as a last resort');
  t.same(
    [a, b, e, f, g].map((q) => c.has(q.hash)),
    [false, true, true, true, true],
    'the oldest held went',
  );
  assertConsistent(t, dir, c, [a, b, x, y, e, f, g]);
});

t.test(
  'get() verifies: flipped byte, truncation and deletion each return null and drop the entry',
  async (t) => {
    const dir = tmp();
    const corrupt: { hash: string; reason: string }[] = [];
    const c = cache({ dir, capBytes: 64 * K, onCorrupt: (hash, reason) => corrupt.push({ hash, reason }) });
    const [flip, trunc, gone, good] = [block(9000), block(9000), block(9000), block(9000)];
    for (const b of [flip, trunc, gone, good]) await c.put(b.hash, b.data);
    t.equal(c.usage().usedBytes, 4 * alloc(9000));

    const p = filePath(dir, flip.hash);
    const bad = readFileSync(p);
    bad[1234]! ^= 0x01;
    writeFileSync(p, bad);
    writeFileSync(filePath(dir, trunc.hash), trunc.data.subarray(0, 8999));
    unlinkSync(filePath(dir, gone.hash));

    let used = c.usage().usedBytes;
    for (const b of [flip, trunc, gone]) {
      t.equal(await c.get(b.hash), null, 'damaged copy is not served');
      t.equal(c.has(b.hash), false, 'entry dropped');
      t.equal(c.usage().usedBytes, used - alloc(9000), 'usage went down by its allocation');
      used = c.usage().usedBytes;
      t.notOk(existsSync(filePath(dir, b.hash)), 'damaged file removed');
    }
    t.same(
      corrupt.map((x) => x.hash),
      [flip.hash, trunc.hash, gone.hash],
      'onCorrupt called once for each',
    );
    for (const x of corrupt) t.type(x.reason, 'string');
    t.same(await c.get(good.hash), good.data, 'an intact block still reads');
    t.equal(await c.get(flip.hash), null, 'a second get of a dropped block is a plain miss');
    t.equal(corrupt.length, 3, 'and does not report again');
    t.equal(await c.put(flip.hash, flip.data), true, 'the dropped block can be cached again');
    t.same(await c.get(flip.hash), flip.data);
    assertConsistent(t, dir, c, [flip, trunc, gone, good]);
  },
);

t.test('persistence: entries, usage and recency order survive close and reopen', async (t) => {
  const dir = tmp();
  // Insertion order A, B, C, D is the reverse of hash order, so a reopen that loaded entries by
  // primary key, or forgot the reads, would evict in another order.
  const blocks = Array.from({ length: 4 }, () => block(3000)).sort((p, q) => (p.hash < q.hash ? 1 : -1));
  const [, b, , d] = blocks as [Block, Block, Block, Block];
  const c1 = cache({ dir, capBytes: 4 * K, now: ticker(1) });
  for (const blk of blocks) await c1.put(blk.hash, blk.data); // t = 1..4
  t.ok(await c1.get(d.hash)); // t = 5
  t.ok(await c1.get(b.hash)); // t = 6: by last access A, C (read once), D, B (read twice)
  const usage = c1.usage();
  await c1.close();

  // New blocks are "held" so that they go last: eviction then walks the reopened entries in order.
  const held = new Set<string>();
  const c2 = cache({ dir, capBytes: 4 * K, now: ticker(100), isHeld: (h) => held.has(h) });
  t.same(c2.usage(), usage, 'same usage and block count after reopen');
  t.equal(usage.usedBytes, 4 * K);
  for (const blk of blocks) {
    t.ok(c2.has(blk.hash), 'entry survived reopen');
    t.same(readFileSync(filePath(dir, blk.hash)), blk.data, 'its file too');
  }
  const order: string[] = [];
  for (let i = 0; i < 4; i++) {
    const n = block(K);
    held.add(n.hash);
    t.equal(await c2.put(n.hash, n.data), true);
    const gone = blocks.filter((q) => !c2.has(q.hash) && !order.includes(q.hash));
    t.equal(gone.length, 1, 'one old block per put');
    if (gone[0]) order.push(gone[0].hash);
  }
  t.same(
    order.map((h) => 'ABCD'[blocks.findIndex((q) => q.hash === h)]).join(''),
    'ACDB',
    'eviction follows last access (reads before close included) after reopen',
  );
  t.equal(order.length, 4);
});

t.test('reopening with a smaller cap shrinks to it, keeping the most recent blocks', async (t) => {
  const dir = tmp();
  const blocks = Array.from({ length: 8 }, () => block(3000));
  const c1 = cache({ dir, capBytes: 8 * K, now: ticker() });
  for (const b of blocks) await c1.put(b.hash, b.data);
  t.equal(c1.usage().blocks, 8);
  await c1.close();
  const c2 = cache({ dir, capBytes: 3 * K, now: ticker(100) });
  t.equal(c2.usage().capBytes, 3 * K);
  t.equal(c2.usage().usedBytes, 3 * K);
  t.same(
    blocks.map((b) => c2.has(b.hash)),
    [false, false, false, false, false, true, true, true],
  );
  assertConsistent(t, dir, c2, blocks);
  await c2.close();
  const c3 = cache({ dir, capBytes: 8 * K });
  t.equal(c3.usage().blocks, 3, 'evictions at open were persisted too');
  assertConsistent(t, dir, c3, blocks);
});

t.test('setCap() to a smaller cap evicts down to it', async (t) => {
  const dir = tmp();
  const c = cache({ dir, capBytes: 8 * K });
  const blocks = Array.from({ length: 8 }, () => block(K));
  for (const b of blocks) await c.put(b.hash, b.data);
  c.setCap(2 * K);
  t.equal(c.usage().usedBytes, 2 * K);
  assertConsistent(t, dir, c, blocks);
});

t.test('files in the blocks dir that the index does not know are removed at open', async (t) => {
  const dir = tmp();
  const known = block(5000);
  const c1 = cache({ dir, capBytes: 16 * K });
  await c1.put(known.hash, known.data);
  await c1.close();
  const stray = block(7000);
  mkdirSync(path.dirname(filePath(dir, stray.hash)), { recursive: true });
  writeFileSync(filePath(dir, stray.hash), stray.data); // a valid block, but unknown to the index
  mkdirSync(path.join(dir, 'blocks', 'zz'), { recursive: true });
  writeFileSync(path.join(dir, 'blocks', 'zz', 'garbage'), 'x'.repeat(100));
  const c2 = cache({ dir, capBytes: 16 * K });
  t.notOk(existsSync(filePath(dir, stray.hash)), 'unknown block file removed');
  t.notOk(existsSync(path.join(dir, 'blocks', 'zz', 'garbage')), 'garbage removed');
  t.equal(c2.has(stray.hash), false);
  t.same(await c2.get(known.hash), known.data, 'the indexed block is kept');
  t.equal(c2.usage().usedBytes, alloc(5000));
  assertConsistent(t, dir, c2, [known, stray]);
});

t.test('regression: a stray plain file directly in blocks/ is removed at open, not a crash', async (t) => {
  const dir = tmp();
  const known = block(100);
  const c1 = cache({ dir, capBytes: 16 * K });
  await c1.put(known.hash, known.data);
  await c1.close();
  writeFileSync(path.join(dir, 'blocks', 'stray-file'), 'left by hand');
  let c2: DiskBlockCache | undefined;
  t.doesNotThrow(() => {
    c2 = cache({ dir, capBytes: 16 * K });
  }, 'opening the cache survives a stray file');
  t.notOk(existsSync(path.join(dir, 'blocks', 'stray-file')), 'stray file removed');
  if (c2) t.same(await c2.get(known.hash), known.data);
});

t.test('demote() makes a block the next victim, without changing usage; it persists', async (t) => {
  const dir = tmp();
  const c = cache({ dir, capBytes: 4 * K, now: ticker() });
  const [a, b, x, y] = [block(K), block(K), block(K), block(K)];
  for (const blk of [a, b, x, y]) await c.put(blk.hash, blk.data);
  t.ok(await c.get(y.hash)); // protected
  const before = c.usage();
  c.demote(y.hash);
  t.same(c.usage(), before, 'demote does not change usage');
  const n1 = block(K);
  await c.put(n1.hash, n1.data);
  t.same(
    [a, b, x, y].map((q) => c.has(q.hash)),
    [true, true, true, false],
    'the demoted (protected) block went first',
  );
  c.demote(x.hash);
  c.demote('f'.repeat(64)); // unknown: no-op
  await c.close();
  const c2 = cache({ dir, capBytes: 4 * K, now: ticker(100) });
  const n2 = block(K);
  await c2.put(n2.hash, n2.data);
  t.same(
    [a, b, x].map((q) => c2.has(q.hash)),
    [true, true, false],
    'demotion survived reopen',
  );
  assertConsistent(t, dir, c2, [a, b, x, y, n1, n2]);
});

t.test('concurrent puts (Promise.all of many) never overshoot the cap', async (t) => {
  const dir = tmp();
  const cap = 10 * K;
  const c = cache({ dir, capBytes: cap });
  const rnd = prng(11);
  const blocks = Array.from({ length: 200 }, () => block(1 + Math.floor(rnd() * 3 * K)));
  let maxSeen = 0;
  let sampling = true;
  const sample = () => {
    maxSeen = Math.max(maxSeen, c.usage().usedBytes);
    if (sampling) setImmediate(sample);
  };
  sample();
  const results = await Promise.all(
    blocks.map((b) => {
      const p = c.put(b.hash, b.data);
      maxSeen = Math.max(maxSeen, c.usage().usedBytes);
      return p;
    }),
  );
  sampling = false;
  t.ok(
    results.every((r) => r === true),
    'every put admitted',
  );
  t.ok(maxSeen <= cap, `usedBytes peaked at ${maxSeen} <= cap ${cap}`);
  t.ok(c.usage().usedBytes <= cap);
  let expected = 0;
  const onDisk = files(dir);
  for (const b of blocks) {
    if (!c.has(b.hash)) continue;
    expected += alloc(b.data.length);
    if (onDisk.get(b.hash) !== b.data.length) t.fail('a cached block has no whole file');
  }
  t.equal(c.usage().usedBytes, expected, 'usage matches the cached blocks');
  t.ok(c.usage().blocks > 0);
});

t.test(
  'regression: a block evicted while its file was being written leaves no untracked file (no cap overshoot)',
  async (t) => {
    // A put reserves space and starts writing; a later put may evict it before the write has even
    // opened the file. The eviction unlinks nothing, then the write creates the file: a block file
    // the index no longer knows, counted against no cap. To make the interleaving deterministic the
    // libuv thread pool is kept busy (as fs reads, hashing or compression elsewhere would) so that
    // no write opens its file before the evictions run.
    const dir = tmp();
    const cap = 10 * K;
    const c = cache({ dir, capBytes: cap });
    const rnd = prng(7);
    const blocks = Array.from({ length: 60 }, () => block(1 + Math.floor(rnd() * 3 * K)));
    const poolSize = Number(process.env.UV_THREADPOOL_SIZE) || 4;
    const busy = Array.from(
      { length: poolSize },
      () => new Promise<void>((resolve) => pbkdf2('x', 'y', 100_000, 32, 'sha256', () => resolve())),
    );
    const results = await Promise.all(blocks.map((b) => c.put(b.hash, b.data)));
    await Promise.all(busy);
    t.ok(
      results.every((r) => r === true),
      'every put admitted',
    );
    t.ok(c.usage().usedBytes <= cap, 'usedBytes within the cap');
    t.ok(diskAllocated(dir) <= cap, `files on disk take ${diskAllocated(dir)} bytes <= cap ${cap}`);
    assertConsistent(t, dir, c, blocks);
  },
);

t.test('a concurrent put and get of the same block leave no untracked file', async (t) => {
  const dir = tmp();
  const c = cache({ dir, capBytes: 16 * K });
  const b = block(5000);
  const put = c.put(b.hash, b.data);
  const got = await c.get(b.hash); // the write may not have landed yet
  await put;
  if (got) t.same(got, b.data);
  assertConsistent(t, dir, c, [b]);
});

t.test(
  'a nearly full disk: the cache keeps the free share for local writes, evicting its own blocks',
  async (t) => {
    const dir = tmp();
    // A simulated 1000-unit disk whose free space is whatever the test says (10% = 100 units kept).
    let free = 500 * K;
    const c = cache({ dir, capBytes: 400 * K, diskSpace: () => ({ free, total: 1000 * K }) });
    const blocks = Array.from({ length: 8 }, () => block(10 * K - 7)); // 10 units each
    for (const b of blocks.slice(0, 4)) {
      t.equal(await c.put(b.hash, b.data), true, 'plenty of room: admitted');
      free -= alloc(b.data.length);
    }
    t.equal(c.usage().blocks, 4);
    // Local writes take the disk down to 104 units free: one more 10-unit block would cross the 100 kept.
    free = 104 * K;
    const next = blocks[4]!;
    t.equal(await c.put(next.hash, next.data), true, 'admitted by evicting its own blocks first');
    t.equal(c.has(blocks[0]!.hash), false, 'the least recently used block made the room');
    t.ok(c.usage().usedBytes <= 4 * alloc(next.data.length), 'the cache did not grow');
    // Nothing of the cache left to give and the disk below the kept share: declined, nothing written.
    const d = tmp();
    const empty = cache({ dir: d, capBytes: 400 * K, diskSpace: () => ({ free: 50 * K, total: 1000 * K }) });
    const b = blocks[5]!;
    t.equal(await empty.put(b.hash, b.data), false, 'declined below the free share');
    t.equal(empty.usage().usedBytes, 0);
    t.equal(existsSync(filePath(d, b.hash)), false, 'no file was written');
    // The rule can be switched off.
    const off = cache({
      dir: tmp(),
      capBytes: 400 * K,
      minFreeRatio: 0,
      diskSpace: () => ({ free: 0, total: 1 }),
    });
    t.equal(await off.put(b.hash, b.data), true, 'minFreeRatio 0: only the cap rules');
  },
);

t.test(
  'verifiedPath: only files written or checked here, never while written; removal heard first',
  async (t) => {
    const dir = tmp();
    const c = cache({ dir, capBytes: 3 * K });
    const a = block(K);
    const put = c.put(a.hash, a.data);
    t.equal(c.verifiedPath(a.hash), null, 'not while its file is being written');
    t.ok(await put);
    t.equal(c.verifiedPath(a.hash), filePath(dir, a.hash), 'once written from verified bytes');
    const heard: { hash: string; fileThere: boolean }[] = [];
    const stop = c.watchRemovals((hash) => heard.push({ hash, fileThere: existsSync(filePath(dir, hash)) }));
    c.evict(a.hash);
    t.same(heard, [{ hash: a.hash, fileThere: true }], 'the listener runs before the unlink');
    t.equal(c.verifiedPath(a.hash), null, 'gone once removed');
    stop();
    // After a restart a file is offered only once it has been read back and checked.
    const b = block(K);
    t.ok(await c.put(b.hash, b.data));
    await c.close();
    const again = cache({ dir, capBytes: 3 * K });
    t.equal(again.verifiedPath(b.hash), null, 'not checked in this process yet');
    t.ok((await again.get(b.hash))?.equals(b.data));
    t.equal(again.verifiedPath(b.hash), filePath(dir, b.hash), 'checked by get');
    // A damaged file is dropped by get, and its removal heard.
    const d = block(K);
    t.ok(await again.put(d.hash, d.data));
    const seen: string[] = [];
    again.watchRemovals((hash) => seen.push(hash));
    writeFileSync(filePath(dir, d.hash), Buffer.alloc(K));
    await again.close();
    const third = cache({ dir, capBytes: 3 * K });
    const gone: string[] = [];
    third.watchRemovals((hash) => gone.push(hash));
    t.equal(await third.get(d.hash), null, 'damaged: dropped');
    t.same(gone, [d.hash]);
    t.equal(third.verifiedPath(d.hash), null);
    t.same(seen, [], 'a closed cache tells nobody');
  },
);

t.test(
  'writes go through the injected writeFile; watchWrites hears each block once its file is written',
  async (t) => {
    const dir = tmp();
    const writes: string[] = [];
    let fail = false;
    const c = cache({
      dir,
      capBytes: 64 * K,
      writeFile: async (file, data) => {
        writes.push(path.basename(file));
        if (fail) throw Object.assign(new Error('no space'), { code: 'ENOSPC' });
        writeFileSync(file, data);
      },
    });
    const heard: string[] = [];
    const stop = c.watchWrites((hash) => {
      heard.push(hash);
      t.ok(c.verifiedPath(hash), 'offered by the time the listener hears of it');
    });
    const [a, b] = [block(5000), block(6000)];
    t.ok(await c.put(a.hash, a.data));
    t.same(writes, [a.hash]);
    t.same(heard, [a.hash]);
    t.same(readFileSync(filePath(dir, a.hash)), a.data);
    fail = true;
    t.notOk(await c.put(b.hash, b.data), 'a failed write declines the block');
    t.notOk(c.has(b.hash));
    t.equal(c.verifiedPath(b.hash), null);
    t.same(heard, [a.hash], 'nothing heard of a block whose write failed');
    t.equal(c.usage().usedBytes, alloc(5000), 'its space is given back');
    stop();
    fail = false;
    t.ok(await c.put(b.hash, b.data));
    t.same(heard, [a.hash], 'a listener that stopped hears nothing');
  },
);

t.test('adopt: a file moved in is the block (no copy), checked before it is offered to others', async (t) => {
  const dir = tmp();
  const c = cache({ dir, capBytes: 1 << 20, now: ticker() });
  const a = block(10_000);
  const staged = path.join(dir, 'staged-a');
  writeFileSync(staged, a.data);
  const ino = statSync(staged).ino;
  const took = c.adopt(a.hash, a.data.length, staged);
  t.ok(took, 'taken');
  t.ok(c.has(a.hash), 'indexed before the move ends (a get waits for it)');
  t.equal(c.usage().usedBytes, alloc(a.data.length), 'its room is reserved at once');
  t.equal(await took, true);
  t.notOk(existsSync(staged), 'moved, not copied');
  t.equal(statSync(filePath(dir, a.hash)).ino, ino, 'the same file');
  t.equal(c.verifiedPath(a.hash), null, 'not offered before this process has checked its bytes');
  t.same(await c.get(a.hash), a.data);
  t.equal(c.verifiedPath(a.hash), filePath(dir, a.hash), 'offered once a get checked it');
  assertConsistent(t, dir, c, [a]);
});

t.test(
  'adopt declines a cached block and one with no room; a failed move leaves nothing indexed',
  async (t) => {
    const dir = tmp();
    const c = cache({ dir, capBytes: 3 * K, now: ticker(), isPinned: () => true });
    const a = block(5000);
    t.ok(await c.put(a.hash, a.data));
    const again = path.join(dir, 'staged-again');
    writeFileSync(again, a.data);
    t.equal(c.adopt(a.hash, a.data.length, again), null, 'cached already: the file stays the caller’s');
    t.ok(existsSync(again));
    const b = block(8000);
    const big = path.join(dir, 'staged-b');
    writeFileSync(big, b.data);
    t.equal(c.adopt(b.hash, b.data.length, big), null, 'no room (everything else pinned)');
    t.ok(existsSync(big));
    const c2 = cache({ dir: tmp(), capBytes: 1 << 20, now: ticker() });
    const m = block(100);
    const took = c2.adopt(m.hash, m.data.length, path.join(dir, 'no-such-file'));
    t.ok(took);
    t.equal(await took, false, 'the rename failed');
    t.notOk(c2.has(m.hash), 'nothing left indexed');
    t.equal(c2.usage().usedBytes, 0);
  },
);
