/**
 * Hydrator, piece ranges: a small random read of a block nobody has fetched asks for just the
 * 64 KiB pieces it needs, checks each against the hash the server vouches for, and fetches the
 * whole block behind it for the cache. Wrong bytes are never served.
 */
import t, { type Test } from 'tap';
import { DiskBlockCache } from '../../../src/client/cache/disk-block-cache.js';
import { Hydrator, newReadState } from '../../../src/client/hydrate/hydrator.js';
import type { BlockExtent } from '../../../src/client/mirror/mirror.js';
import { PIECE_SIZE } from '../../../src/shared/hash.js';
import {
  block,
  RangedFakeSource,
  SimpleConnectivity,
  sleep,
  tmpDirs,
  waitFor,
  type Block,
} from './fake-block-source.js';

const tmp = tmpDirs(t, 'loft-hydrate-range-');
const MiB = 1024 * 1024;

function setup(t: Test, online = true) {
  const cache = new DiskBlockCache({ dir: tmp(), capBytes: 64 * MiB });
  const source = new RangedFakeSource();
  const net = new SimpleConnectivity(online);
  const logs: string[] = [];
  const h = new Hydrator({ source, cache, connectivity: net, log: (msg) => logs.push(msg) });
  t.teardown(async () => {
    h.close();
    await cache.close();
  });
  return { cache, source, net, h, logs };
}

/** One file of the given block sizes. */
function file(source: RangedFakeSource, sizes: number[]) {
  const blocks: Block[] = sizes.map((s) => block(s));
  source.add(...blocks);
  let offset = 0;
  const extents: BlockExtent[] = blocks.map((b) => {
    const e = { hash: b.hash, offset, size: b.data.length };
    offset += b.data.length;
    return e;
  });
  return { blocks, extents, size: offset, content: Buffer.concat(blocks.map((b) => b.data)) };
}

t.test('a 4 KiB read of a cold block fetches one piece; a second read caches the block', async (t) => {
  const { h, source, cache } = setup(t);
  const f = file(source, [MiB, MiB]);
  const b = f.blocks[1]!;
  const read = async (at: number) => {
    const out = Buffer.alloc(4096);
    t.equal(await h.read(f.extents, f.size, at, out, newReadState()), 4096);
    t.ok(out.equals(f.content.subarray(at, at + 4096)), `right bytes at ${at}`);
  };
  await read(MiB + 300 * 1024); // inside piece 4 of block 1
  t.same(source.rangeCalls, [`${b.hash}:${4 * PIECE_SIZE}-${5 * PIECE_SIZE}`], 'one aligned piece asked for');
  t.equal(h.served.ranged, 1);
  await sleep(50);
  t.equal(source.count(b.hash), 0, 'a block read once is not fetched whole');
  t.equal(h.downloadedBytes, PIECE_SIZE);
  // Read again (another piece): the piece, then the whole block behind it for the cache.
  await read(MiB + 10);
  t.equal(source.rangeCalls.length, 2);
  await waitFor(() => cache.has(b.hash), 5000, 'the whole block in the cache');
  t.equal(source.count(b.hash), 1, 'the whole block fetched once, behind the second piece');
  t.equal(source.count(f.blocks[0]!.hash), 0, 'nothing else fetched');
  t.equal(h.downloadedBytes, 2 * PIECE_SIZE + MiB);
  // From now on the block comes from memory or the cache, not the network.
  await read(MiB + 700_000);
  t.equal(source.rangeCalls.length, 2);
  t.equal(source.count(b.hash), 1);
});

t.test('a read across a piece boundary gets both pieces in one range', async (t) => {
  const { h, source } = setup(t);
  const f = file(source, [MiB]);
  const out = Buffer.alloc(8192);
  const at = 2 * PIECE_SIZE - 4096;
  await h.read(f.extents, f.size, at, out);
  t.ok(out.equals(f.content.subarray(at, at + 8192)));
  t.same(source.rangeCalls, [`${f.blocks[0]!.hash}:${PIECE_SIZE}-${3 * PIECE_SIZE}`]);
});

t.test('the short last piece of a block is asked for up to the block end', async (t) => {
  const { h, source } = setup(t);
  const size = 5 * PIECE_SIZE + 1234;
  const f = file(source, [size]);
  const out = Buffer.alloc(1000);
  await h.read(f.extents, f.size, size - 1000, out);
  t.ok(out.equals(f.content.subarray(size - 1000)));
  t.same(source.rangeCalls, [`${f.blocks[0]!.hash}:${5 * PIECE_SIZE}-${size}`]);
});

t.test('a range that does not match its piece hashes is never served: the whole block is', async (t) => {
  const { h, source, logs } = setup(t);
  const f = file(source, [MiB]);
  source.wrongRanges = 1;
  const out = Buffer.alloc(4096);
  await h.read(f.extents, f.size, 200_000, out);
  t.ok(out.equals(f.content.subarray(200_000, 204_096)), 'right bytes, from the verified whole block');
  t.equal(source.count(f.blocks[0]!.hash), 1);
  t.ok(logs.includes('block range failed verification'), 'logged');
});

t.test('a bad range and a block wrong twice end in CORRUPT, nothing served or cached', async (t) => {
  const { h, source, cache } = setup(t);
  const f = file(source, [MiB]);
  source.wrongRanges = 1;
  source.wrong.set(f.blocks[0]!.hash, 2);
  await t.rejects(h.read(f.extents, f.size, 200_000, Buffer.alloc(4096)), { code: 'CORRUPT' });
  t.equal(cache.has(f.blocks[0]!.hash), false);
});

t.test('a range without piece hashes is not trusted', async (t) => {
  const { h, source } = setup(t);
  const f = file(source, [MiB]);
  source.rangeMode = 'no-pieces';
  const out = Buffer.alloc(4096);
  await h.read(f.extents, f.size, 700_000, out);
  t.ok(out.equals(f.content.subarray(700_000, 704_096)));
  t.equal(source.count(f.blocks[0]!.hash), 1, 'the whole block was fetched to verify');
});

t.test('a server that ignores the range sends the whole block: verified and cached', async (t) => {
  const { h, source, cache } = setup(t);
  const f = file(source, [MiB]);
  source.rangeMode = 'whole';
  const out = Buffer.alloc(4096);
  await h.read(f.extents, f.size, 700_000, out);
  t.ok(out.equals(f.content.subarray(700_000, 704_096)));
  await waitFor(() => cache.has(f.blocks[0]!.hash), 5000, 'cached');
  t.equal(source.count(f.blocks[0]!.hash), 0, 'no second download');
});

t.test('a failed range falls back to the whole block (which retries)', async (t) => {
  const { h, source } = setup(t);
  const f = file(source, [MiB]);
  source.rangeMode = 'fail';
  const out = Buffer.alloc(4096);
  await h.read(f.extents, f.size, 500_000, out);
  t.ok(out.equals(f.content.subarray(500_000, 504_096)));
  t.equal(source.count(f.blocks[0]!.hash), 1);
});

t.test('concurrent readers of one piece share one range download', async (t) => {
  const { h, source } = setup(t);
  const f = file(source, [MiB]);
  source.rangeDelayMs = 30;
  const outs = [Buffer.alloc(100), Buffer.alloc(100), Buffer.alloc(100)];
  await Promise.all(outs.map((o, i) => h.read(f.extents, f.size, 70_000 + i * 1000, o)));
  outs.forEach((o, i) => t.ok(o.equals(f.content.subarray(70_000 + i * 1000, 70_100 + i * 1000))));
  t.equal(source.rangeCalls.length, 1);
});

t.test('no ranges for sequential reads, big reads, small blocks or while offline', async (t) => {
  {
    const { h, source } = setup(t);
    const f = file(source, [MiB, MiB, MiB]);
    const state = newReadState();
    await h.read(f.extents, f.size, 0, Buffer.alloc(128 * 1024), state);
    t.equal(source.rangeCalls.length, 0, 'a first read at offset 0 starts a stream');
    const jump = newReadState();
    await h.read(f.extents, f.size, 2 * MiB + 128 * 1024, Buffer.alloc(128 * 1024), jump);
    t.equal(source.rangeCalls.length, 1, 'a first read elsewhere is a random read');
    await h.read(f.extents, f.size, 2 * MiB + 256 * 1024, Buffer.alloc(128 * 1024), jump);
    await h.read(f.extents, f.size, 2 * MiB + 384 * 1024, Buffer.alloc(128 * 1024), jump);
    t.equal(source.rangeCalls.length, 1, 'later reads of the stream take whole blocks');
  }
  {
    const { h, source } = setup(t);
    const f = file(source, [MiB]);
    await h.read(f.extents, f.size, 0, Buffer.alloc(512 * 1024));
    t.equal(source.rangeCalls.length, 0, 'half a block is fetched whole');
  }
  {
    const { h, source } = setup(t);
    const f = file(source, [100_000]);
    await h.read(f.extents, f.size, 0, Buffer.alloc(4096));
    t.equal(source.rangeCalls.length, 0, 'a block of two pieces is fetched whole');
  }
  {
    const { h, source, net } = setup(t, false);
    const f = file(source, [MiB]);
    await h.read(f.extents, f.size, 300_000, Buffer.alloc(4096));
    t.equal(source.rangeCalls.length, 0, 'offline: straight to the whole-block path');
    t.equal(net.online, true);
  }
});

t.test('a first read next to a block another handle is streaming takes the whole block', async (t) => {
  const { h, source } = setup(t);
  const f = file(source, [MiB, MiB, MiB]);
  // Handle 1 streams from 0; block 0 is in flight (or already in memory: the same answer) when handle 2's first read lands in block 1
  // (where the page cache the two handles share ends).
  const first = h.read(f.extents, f.size, 0, Buffer.alloc(128 * 1024), newReadState());
  const out = Buffer.alloc(128 * 1024);
  await h.read(f.extents, f.size, MiB + 64 * 1024, out, newReadState());
  await first;
  t.ok(out.equals(f.content.subarray(MiB + 64 * 1024, MiB + 192 * 1024)));
  t.equal(source.rangeCalls.length, 0, 'no piece range');
  await h.read(f.extents, f.size, MiB, Buffer.alloc(128 * 1024), newReadState());
  t.equal(source.count(f.blocks[1]!.hash), 1, 'block 1 downloaded once');
  t.equal(h.downloadedBytes, 2 * MiB, 'no byte twice');
});
