/** GarbageCollector over real stores (SQLite in memory, blocks in memory) with a fake clock. */
import t from 'tap';
import { MemoryBlockStore } from '../../../src/blockstore/memory-block-store.js';
import type { Actor } from '../../../src/metastore/metadata-store.js';
import { SqliteMetadataStore } from '../../../src/metastore/sqlite/sqlite-metadata-store.js';
import {
  CLAIM_LEASE_MS,
  GarbageCollector,
  GC_SLICE_MS,
  keepDaysToMs,
  SliceSizer,
} from '../../../src/server/garbage-collector.js';
import { sha256hex } from '../../../src/shared/hash.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

async function setup(options: { keepDays?: number; graceMs?: number } = {}) {
  let now = 1_700_000_000_000;
  const clock = { now: () => now };
  const meta = new SqliteMetadataStore({ filename: ':memory:' });
  const blocks = new MemoryBlockStore();
  const user = await meta.createUser('alice', now);
  const deviceId = await meta.addDevice(user.id, 'laptop', 'a'.repeat(64), null, now);
  const actor = (): Actor => ({ userId: user.id, deviceId, now });
  /** What the PUT route does: bytes, then the record. */
  const upload = async (text: string) => {
    const data = Buffer.from(text);
    const hash = sha256hex(data);
    const seen = await meta.blockState(hash);
    const r = await blocks.put(hash, data);
    await meta.recordUpload(user.id, hash, data.length, r.storedSize, now, seen);
    return { hash, size: data.length };
  };
  const commit = async (path: string, text: string, parentRev: number | null) => {
    const b = await upload(text);
    return meta.commitFile(actor(), {
      ns: user.homeNs,
      node: { path },
      parentRev,
      blocks: [b],
      size: b.size,
      mtime: now,
      mode: 0o644,
    });
  };
  const gc = new GarbageCollector({
    meta,
    blocks,
    clock,
    keepMs: keepDaysToMs(options.keepDays ?? 30),
    graceMs: options.graceMs ?? DAY,
  });
  t.teardown(async () => {
    await gc.close();
    await meta.close();
  });
  return {
    meta,
    blocks,
    gc,
    user,
    actor,
    upload,
    commit,
    advance: (ms: number) => (now += ms),
    hash: (text: string) => sha256hex(Buffer.from(text)),
  };
}

t.test('old revisions and their blocks go; current ones and fresh uploads stay', async (t) => {
  const s = await setup({ keepDays: 30, graceMs: DAY });
  const v1 = await s.commit('/a.txt', 'version 1', null);
  s.advance(1 * DAY);
  await s.commit('/a.txt', 'version 2', v1.rev);
  s.advance(10 * DAY);
  const nothing = await s.gc.run();
  t.match(nothing, { purgedRevisions: 0, deletedBlocks: 0 }, 'within 30 days everything is kept');
  s.advance(25 * DAY); // v1 stopped being current 35 days ago
  await s.upload('uploaded, commit not arrived yet');
  const r = await s.gc.run();
  t.match(r, { purgedRevisions: 1, deletedBlocks: 1, freedBytes: 9 });
  t.equal(await s.blocks.has(s.hash('version 1')), false, 'the bytes are deleted');
  t.equal(await s.blocks.has(s.hash('version 2')), true, 'current content kept, whatever its age');
  t.equal(await s.blocks.has(s.hash('uploaded, commit not arrived yet')), true, 'within the grace');
  // The commit of the pending upload arrives and succeeds.
  const late = await s.commit('/late.txt', 'uploaded, commit not arrived yet', null);
  t.ok(late.rev);
  s.advance(2 * DAY);
  t.match(await s.gc.run(), { deletedBlocks: 0 }, 'now referenced');
  // An upload never committed is collected once the grace is over.
  await s.upload('abandoned');
  s.advance(DAY + 1);
  t.match(await s.gc.run(), { deletedBlocks: 1 });
  t.equal(await s.blocks.has(s.hash('abandoned')), false);
  t.same(await s.meta.missingBlocks(s.user.id, [s.hash('abandoned')]), [s.hash('abandoned')]);
});

t.test('a run looks at what may be garbage, not at every block in the store', async (t) => {
  const s = await setup({ keepDays: 30, graceMs: DAY });
  for (let i = 0; i < 50; i++) await s.commit(`/f${i}.txt`, `content ${i}`, null);
  s.advance(DAY + 1);
  t.match(await s.gc.run(), { examinedBlocks: 50, deletedBlocks: 0 }, 'each block sent is looked at once');
  s.advance(DAY);
  t.match(await s.gc.run(), { examinedBlocks: 0 }, 'then never again while referenced');
  const f0 = await s.meta.getNode(s.user.homeNs, { path: '/f0.txt' });
  await s.commit('/f0.txt', 'content 0, v2', f0!.rev);
  s.advance(DAY + 1);
  t.match(await s.gc.run(), { examinedBlocks: 1, deletedBlocks: 0 }, 'a new upload: one more');
  s.advance(31 * DAY); // f0's first revision leaves the window: its block list is dropped
  t.match(await s.gc.run(), { purgedRevisions: 1, examinedBlocks: 1, deletedBlocks: 1 });
  t.equal(await s.blocks.has(s.hash('content 0')), false);
  t.equal(await s.blocks.has(s.hash('content 1')), true);
});

t.test('keep-days 0: only current revisions survive a run', async (t) => {
  const s = await setup({ keepDays: 0, graceMs: 0 });
  const v1 = await s.commit('/f', 'one', null);
  const v2 = await s.commit('/f', 'two', v1.rev);
  s.advance(1);
  const r = await s.gc.run();
  t.match(r, { purgedRevisions: 1, deletedBlocks: 1 });
  t.same(
    (await s.meta.listRevisions(s.user.homeNs, v1.id)).map((x) => x.rev),
    [v2.rev],
  );
  t.equal(await s.blocks.get(s.hash('one')), null);
  t.same(await s.blocks.get(s.hash('two')), Buffer.from('two'));
});

t.test('a failed delete leaves the block claimed; a later run finishes it after the lease', async (t) => {
  const s = await setup({ keepDays: 0, graceMs: 0 });
  const orphan = await s.upload('orphan');
  s.advance(1);
  const realDelete = s.blocks.delete.bind(s.blocks);
  s.blocks.delete = async () => {
    throw new Error('EIO');
  };
  t.match(await s.gc.run(), { deletedBlocks: 0, failedDeletes: 1 });
  t.equal(await s.meta.blockState(orphan.hash), 'collecting', 'uploads of it wait');
  s.blocks.delete = realDelete;
  t.match(await s.gc.run(), { deletedBlocks: 0 }, 'the claim is not stale yet');
  s.advance(CLAIM_LEASE_MS + 1);
  t.match(await s.gc.run(), { deletedBlocks: 1 });
  t.equal(await s.meta.blockState(orphan.hash), 'absent');
  t.equal(await s.blocks.has(orphan.hash), false);
});

t.test('run is single-flight; the periodic loop stops on close', async (t) => {
  const s = await setup();
  const [a, b] = [s.gc.run(), s.gc.run()];
  t.equal(a, b, 'one run shared');
  await a;
  s.gc.start(10);
  await new Promise((r) => setTimeout(r, 50));
  await s.gc.close();
  t.pass('closed');
});

t.test('SliceSizer: batches follow the measured time of a slice', async (t) => {
  const s = new SliceSizer(4, 64);
  s.took(1); // fast: grows
  t.equal(s.size, 128);
  s.took(3); // within budget: stays
  t.equal(s.size, 128);
  for (let i = 0; i < 20; i++) s.took(50); // slow: shrinks to the floor, never 0
  t.ok(s.size >= 1 && s.size <= 8, `floor ${s.size}`);
  for (let i = 0; i < 30; i++) s.took(0);
  t.ok(s.size <= 4096, `ceiling ${s.size}`);
});

t.test('a run is cut in slices of about GC_SLICE_MS that yield to other work between them', async (t) => {
  // Fake time: each item a slice looks at costs 0.5 ms, so a 4 ms slice holds about 8 of them.
  let now = 1_700_000_000_000;
  let fakeMs = 0;
  const meta = new SqliteMetadataStore({ filename: ':memory:' });
  const blocks = new MemoryBlockStore();
  const user = await meta.createUser('alice', now);
  const actor = (): Actor => ({ userId: user.id, deviceId: 0, now });
  const data = Buffer.from('x');
  const hash = sha256hex(data);
  await blocks.put(hash, data);
  await meta.recordUpload(user.id, hash, 1, 1, now);
  for (let i = 0; i < 200; i++) {
    let rev: number | null = null;
    for (let r = 0; r < 3; r++) {
      const made = await meta.commitFile(actor(), {
        ns: user.homeNs,
        node: { path: `/f${i}` },
        parentRev: rev,
        blocks: [{ hash, size: 1 }],
        size: 1,
        mtime: now,
        mode: 0o644,
      });
      rev = made.rev;
      now += 1000;
    }
  }
  const sizes: number[] = [];
  const timed = new Proxy(meta, {
    get(target, prop, receiver) {
      if (prop === 'purgeHistory') {
        return async (cutoff: number, batch: number) => {
          sizes.push(batch);
          const r = await target.purgeHistory(cutoff, batch);
          fakeMs += 0.5 * (r.revisions + r.nodes);
          return r;
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const gc = new GarbageCollector({
    meta: timed,
    blocks,
    clock: { now: () => now + 2 * DAY },
    keepMs: DAY,
    graceMs: DAY,
    elapsed: () => fakeMs,
    sliceMs: GC_SLICE_MS,
  });
  t.teardown(async () => {
    await gc.close();
    await meta.close();
  });
  // Other work queued on the event loop gets its turn between slices.
  let turns = 0;
  let running = true;
  const other = (): void => {
    if (!running) return;
    turns++;
    setImmediate(other);
  };
  setImmediate(other);
  const report = await gc.run();
  running = false;
  t.equal(report.purgedRevisions, 400, 'every superseded revision purged');
  t.ok(sizes.length > 10, `many slices (${sizes.length})`);
  const late = sizes.slice(4);
  t.ok(
    late.every((n) => n * 0.5 <= 2 * GC_SLICE_MS),
    `once measured, no slice holds more than ~${GC_SLICE_MS} ms of work (${late.join(',')})`,
  );
  t.ok(turns >= sizes.length - 1, `other work ran between slices (${turns} turns, ${sizes.length} slices)`);
});
