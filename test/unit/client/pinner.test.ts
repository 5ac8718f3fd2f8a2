/** Pinner: pinned files are hydrated into the cache and never evicted; pins that cannot fit are refused. */
import path from 'node:path';
import t, { type Test } from 'tap';
import { DiskBlockCache } from '../../../src/client/cache/disk-block-cache.js';
import { Hydrator } from '../../../src/client/hydrate/hydrator.js';
import { Mirror } from '../../../src/client/mirror/mirror.js';
import { PinnedBlocks } from '../../../src/client/pins/pinned-blocks.js';
import { Pinner } from '../../../src/client/pins/pinner.js';
import type { Revision } from '../../../src/shared/protocol.js';
import {
  block,
  FakeSource,
  SimpleConnectivity,
  sleep,
  tmpDirs,
  waitFor,
  type Block,
} from './fake-block-source.js';

const tmp = tmpDirs(t, 'loft-pinner-');
const K = 4096;
const ROOT = 1;

let rev = 0;
function entry(id: number, parentId: number, name: string, blocks?: Block[]): Revision {
  const refs = blocks?.map((b) => ({ hash: b.hash, size: b.data.length }));
  return {
    rev: ++rev,
    id,
    op: blocks ? 'create' : 'mkdir',
    parentId,
    name,
    kind: blocks ? 'file' : 'dir',
    deleted: false,
    size: refs ? refs.reduce((a, b) => a + b.size, 0) : 0,
    mtime: 1,
    mode: blocks ? 0o644 : 0o755,
    ...(refs ? { blocks: refs } : {}),
    device: null,
    time: 1,
  };
}

interface Setup {
  mirror: Mirror;
  cache: DiskBlockCache;
  source: FakeSource;
  hydrator: Hydrator;
  pinner: Pinner;
}

function setup(t: Test, capBytes: number, tree: Revision[], blocks: Block[]): Setup {
  const dir = tmp();
  const mirror = new Mirror(path.join(dir, 'mirror.db'));
  mirror.initialize({ server: 'http://x', user: 'u', ns: 1, rootId: ROOT });
  mirror.applyChanges(tree, 'c1', true);
  const ref: { pinner?: Pinner } = {};
  const cache = new DiskBlockCache({
    dir: path.join(dir, 'cache'),
    capBytes,
    isPinned: (h) => ref.pinner?.isPinnedHash(h) ?? false,
  });
  const source = new FakeSource().add(...blocks);
  const hydrator = new Hydrator({ source, cache, connectivity: new SimpleConnectivity() });
  const p = new Pinner({ mirror, cache, hydrator });
  ref.pinner = p;
  t.teardown(async () => {
    await p.close();
    hydrator.close();
    await cache.close();
    mirror.close();
  });
  return { mirror, cache, source, hydrator, pinner: p };
}

const hydrated = (p: Pinner) => () => {
  const g = p.progress();
  return !g.hydrating && g.cachedBytes === g.totalBytes;
};

t.test('pin() of a directory hydrates every block of the files below it and keeps them', async (t) => {
  const shared = block(3000);
  const x = [block(10_000), block(10_000), shared];
  const y = [block(20_000), shared];
  const z = [block(5000)];
  const tree = [
    entry(2, ROOT, 'p'),
    entry(3, 2, 'x', x),
    entry(4, 2, 'sub'),
    entry(5, 4, 'y', y),
    entry(6, ROOT, 'q'),
    entry(7, 6, 'z', z),
  ];
  const { pinner, cache, source, mirror } = setup(t, 1024 * 1024, tree, [...x, ...y, ...z]);
  t.same(pinner.progress(), { files: 0, totalBytes: 0, cachedBytes: 0, hydrating: false, error: null });
  pinner.pin([2]);
  t.same(mirror.pinnedIds(), new Set([2]));
  const total = 10_000 + 10_000 + 3000 + 20_000;
  t.equal(pinner.progress().totalBytes, total, 'distinct blocks counted once');
  t.equal(pinner.progress().files, 2);
  await waitFor(hydrated(pinner), 5000, 'pin hydration');
  t.equal(pinner.progress().cachedBytes, total);
  t.equal(pinner.progress().error, null);
  for (const b of [...x, ...y]) {
    t.equal(cache.has(b.hash), true, 'block in the disk cache');
    t.equal(pinner.isPinnedHash(b.hash), true);
  }
  t.equal(pinner.isPinnedHash(z[0]!.hash), false);
  t.equal(cache.has(z[0]!.hash), false);
  t.equal(source.count(z[0]!.hash), 0, 'the unpinned file was not fetched');
  t.equal(source.count(shared.hash), 1, 'a block two pinned files share is fetched once');

  // pinned blocks survive a flood of other blocks several times the cap
  for (let i = 0; i < 120; i++) {
    const o = block(30_000);
    await cache.put(o.hash, o.data);
  }
  t.ok(cache.usage().usedBytes <= 1024 * 1024);
  for (const b of [...x, ...y]) t.same(await cache.get(b.hash), b.data, 'pinned block still cached');
  t.equal(pinner.progress().cachedBytes, total);

  // a file added below the pinned dir by a remote change is hydrated after refresh()
  const w = [block(7000)];
  source.add(...w);
  mirror.applyChanges([entry(8, 4, 'w', w)], 'c2', true);
  pinner.refresh();
  t.equal(pinner.progress().totalBytes, total + 7000);
  await waitFor(hydrated(pinner), 5000, 'hydration of the new file');
  t.equal(cache.has(w[0]!.hash), true);
  t.equal(pinner.isPinnedHash(w[0]!.hash), true);
});

t.test('pin() that would exceed the cache cap throws TOO_LARGE (ENOSPC) and leaves no pin', async (t) => {
  const big = [block(40_000), block(40_000)];
  const small = [block(1000)];
  const tree = [
    entry(2, ROOT, 'big'),
    entry(3, 2, 'f', big),
    entry(4, ROOT, 'small'),
    entry(5, 4, 'g', small),
  ];
  const { pinner, mirror, source, cache } = setup(t, 64 * 1024, tree, [...big, ...small]);
  pinner.pin([4]);
  await waitFor(hydrated(pinner), 5000);
  t.equal(cache.has(small[0]!.hash), true);
  const calls = source.calls.length;

  t.throws(() => pinner.pin([2]), { code: 'TOO_LARGE', errno: 'ENOSPC', name: 'FsError' });
  t.same(mirror.pinnedIds(), new Set([4]), 'the refused pin is not recorded; the earlier one stays');
  t.equal(mirror.isPinned(3), false);
  t.equal(pinner.progress().totalBytes, 1000);
  t.equal(pinner.progress().files, 1);
  for (const b of big) t.equal(pinner.isPinnedHash(b.hash), false);
  t.equal(pinner.isPinnedHash(small[0]!.hash), true);
  // pinning the file itself is refused the same way; together with an allowed id, neither is pinned
  t.throws(() => pinner.pin([3]), { code: 'TOO_LARGE' });
  t.throws(() => pinner.pin([4, 2]), { code: 'TOO_LARGE' });
  t.same(mirror.pinnedIds(), new Set([4]), 'an id pinned before a refused call keeps its pin');
  await sleep(100);
  t.equal(source.calls.length, calls, 'nothing fetched for a refused pin');
});

t.test(
  'regression: the pin cap check counts 4 KiB allocation units, so many small files cannot overcommit the cache',
  async (t) => {
    // 20 distinct 100-byte blocks are 2,000 logical bytes but 80 KiB of cache (each takes one 4 KiB
    // unit), more than the 64 KiB cap: the cache can hold only 16 of them, so the pin must be refused.
    const files = Array.from({ length: 20 }, () => [block(100)]);
    const tree = [entry(2, ROOT, 'many'), ...files.map((f, i) => entry(10 + i, 2, `f${i}`, f))];
    const { pinner, mirror } = setup(t, 16 * K, tree, files.flat());
    let threw: unknown = null;
    try {
      pinner.pin([2]);
    } catch (err) {
      threw = err;
    }
    t.match(threw, { code: 'TOO_LARGE' }, 'pin refused with TOO_LARGE');
    if (!threw) {
      await waitFor(() => !pinner.progress().hydrating, 5000);
      const g = pinner.progress();
      t.comment(`accepted: ${g.cachedBytes} of ${g.totalBytes} pinned bytes could be cached`);
      t.same(mirror.pinnedIds(), new Set(), 'and no pin recorded');
    }
  },
);

t.test(
  'unpin() clears the pinned set and demotes its blocks to the front of the eviction order',
  async (t) => {
    const pinnedBlocks = Array.from({ length: 6 }, () => block(K));
    const tree = [
      entry(2, ROOT, 'p'),
      entry(3, 2, 'a', pinnedBlocks.slice(0, 3)),
      entry(4, 2, 'b', pinnedBlocks.slice(3)),
    ];
    const { pinner, cache, mirror } = setup(t, 16 * K, tree, pinnedBlocks);
    // older unrelated blocks first: without demotion they would be the first victims
    const older = Array.from({ length: 4 }, () => block(K));
    for (const b of older) await cache.put(b.hash, b.data);
    pinner.pin([2]);
    await waitFor(hydrated(pinner), 5000);
    const newer = Array.from({ length: 6 }, () => block(K));
    for (const b of newer) await cache.put(b.hash, b.data);
    t.equal(cache.usage().usedBytes, 16 * K, 'cache full');
    t.ok(pinnedBlocks.every((b) => cache.has(b.hash)));

    const usage = cache.usage();
    pinner.unpin([2]);
    t.same(mirror.pinnedIds(), new Set());
    t.same(pinner.progress(), { files: 0, totalBytes: 0, cachedBytes: 0, hydrating: false, error: null });
    for (const b of pinnedBlocks) t.equal(pinner.isPinnedHash(b.hash), false);
    t.same(cache.usage(), usage, 'unpin frees nothing by itself: blocks stay cached until space is needed');

    const incoming = Array.from({ length: 6 }, () => block(K));
    for (const b of incoming) await cache.put(b.hash, b.data);
    t.same(
      pinnedBlocks.filter((b) => cache.has(b.hash)).length,
      0,
      'the formerly pinned blocks were the victims',
    );
    t.ok(
      [...older, ...newer].every((b) => cache.has(b.hash)),
      'every other block (even older ones) survived',
    );
    t.equal(cache.usage().usedBytes, 16 * K);
  },
);

t.test('unpinning one of two pins keeps the blocks the other still needs', async (t) => {
  const shared = block(K);
  const a = [block(K), shared];
  const b = [block(K), shared];
  const tree = [entry(2, ROOT, 'a', a), entry(3, ROOT, 'b', b)];
  const { pinner, cache } = setup(t, 16 * K, tree, [...a, ...b.slice(0, 1)]);
  pinner.pin([2, 3]);
  await waitFor(hydrated(pinner), 5000);
  pinner.unpin([2]);
  t.equal(pinner.isPinnedHash(shared.hash), true, 'shared block still pinned through b');
  t.equal(pinner.isPinnedHash(a[0]!.hash), false);
  for (let i = 0; i < 40; i++) {
    const o = block(K);
    await cache.put(o.hash, o.data);
  }
  t.equal(cache.has(shared.hash), true);
  t.equal(cache.has(b[0]!.hash), true);
  t.equal(cache.has(a[0]!.hash), false);
});

// The drive makes PinnedBlocks before the cache (client.ts): the cache's first shrink, at start with
// a smaller cap, already keeps pinned blocks. Before, the pinner did not exist yet at that point and
// the shrink evicted them.
t.test('a restart with a smaller cache cap keeps the pinned blocks (PinnedBlocks first)', async (t) => {
  const dir = tmp();
  const pinnedFile = [block(8 * K), block(8 * K)];
  const other = [block(8 * K), block(8 * K), block(8 * K)];
  const tree = [entry(2, ROOT, 'keep', pinnedFile), entry(3, ROOT, 'other', other)];
  const mirror = new Mirror(path.join(dir, 'mirror.db'));
  t.teardown(() => mirror.close());
  mirror.initialize({ server: 'http://x', user: 'u', ns: 1, rootId: ROOT });
  mirror.applyChanges(tree, 'c1', true);
  mirror.pin(2);
  const first = new DiskBlockCache({ dir: path.join(dir, 'cache'), capBytes: 1024 * K });
  // The pinned blocks are the oldest: an LRU shrink alone would evict them first.
  for (const b of [...pinnedFile, ...other]) t.ok(await first.put(b.hash, b.data));
  await first.close();
  const pinned = new PinnedBlocks(mirror);
  const again = new DiskBlockCache({ dir: path.join(dir, 'cache'), capBytes: 20 * K, isPinned: pinned.has });
  t.teardown(() => again.close());
  for (const b of pinnedFile) t.ok(again.has(b.hash), 'a pinned block survived the shrink');
  t.ok(again.usage().usedBytes <= 20 * K, `under the new cap (${again.usage().usedBytes} B)`);
});
