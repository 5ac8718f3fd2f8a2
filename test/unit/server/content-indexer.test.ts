/**
 * ContentIndexer's scheduling (issue 16) over real stores (SQLite in memory, blocks in memory) on
 * fake time: a burst of commits is indexed after it, not during it; a burst that starts while it
 * indexes stops it at the next slice; an endless burst does not starve search (low duty cycle);
 * every transaction is sized to its measured time, so none holds the request thread long.
 */
import t from 'tap';
import { setImmediate as turn } from 'node:timers/promises';
import { MemoryBlockStore } from '../../../src/blockstore/memory-block-store.js';
import type { ContentDoc } from '../../../src/metastore/content-store.js';
import type { MetadataStore } from '../../../src/metastore/metadata-store.js';
import { SqliteMetadataStore } from '../../../src/metastore/sqlite/sqlite-metadata-store.js';
import {
  CONTENT_SLICE_MS,
  ContentIndexer,
  DEFAULT_CONTENT_TEXT_BYTES,
  sniffTextPrefix,
} from '../../../src/server/content-indexer.js';
import type { Timers } from '../../../src/shared/clock.js';
import { sha256hex } from '../../../src/shared/hash.js';

/** Timers that fire only when the test advances time. */
function fakeTimers() {
  let now = 1_700_000_000_000;
  let seq = 0;
  const armed = new Map<number, { at: number; fn: () => void }>();
  const timers: Timers = {
    now: () => now,
    setTimeout(fn, ms) {
      armed.set(++seq, { at: now + ms, fn });
      return seq;
    },
    clearTimeout(handle) {
      armed.delete(handle as number);
    },
  };
  /** Lets the indexer run until it sleeps on a timer again (event-loop turns, not wall time). */
  const settle = async () => {
    await turn();
    for (let i = 0; i < 100_000 && armed.size === 0; i++) await turn();
  };
  const advance = async (ms: number) => {
    const end = now + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of armed) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      now = Math.max(now, next[1].at);
      armed.delete(next[0]);
      next[1].fn();
      await settle();
    }
    now = end;
    await settle();
  };
  return { timers, settle, advance };
}

interface Slice {
  at: number;
  docs: number;
  bytes: number;
  /** Fake time the transaction took: COST_MS_PER_KIB per KiB of text. */
  ms: number;
}

/** A slow engine: 1 ms per 2 KiB of text (256 KiB: 128 ms), on fake elapsed time. */
const COST_MS_PER_KIB = 0.5;

async function setup(options: { onApply?: (n: number) => void } = {}) {
  const clock = fakeTimers();
  let elapsedMs = 0;
  const store = new SqliteMetadataStore({ filename: ':memory:' });
  const blocks = new MemoryBlockStore({ maxBlockSize: 4 << 20 });
  const user = await store.createUser('alice', clock.timers.now());
  const slices: Slice[] = [];
  const meta = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'applyContentIndex') {
        return async (ns: number, upTo: number, docs: readonly ContentDoc[]) => {
          await target.applyContentIndex(ns, upTo, docs);
          const bytes = docs.reduce((n, d) => n + (d.text?.length ?? 0), 0);
          const ms = (bytes / 1024) * COST_MS_PER_KIB;
          elapsedMs += ms;
          slices.push({ at: clock.timers.now(), docs: docs.length, bytes, ms });
          options.onApply?.(slices.length);
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as MetadataStore;
  const indexer = new ContentIndexer({
    meta,
    blocks,
    timers: clock.timers,
    elapsed: () => elapsedMs,
    quietMs: 250,
    maxDeferMs: 5_000,
    pollMs: 30_000,
  });
  t.teardown(async () => {
    await indexer.close();
    await store.close();
  });
  let n = 0;
  /** A commit as the server makes it: bytes, record, commit, then the hub wakes the indexer. */
  const commit = async (text: string) => {
    const data = Buffer.from(text);
    const hash = sha256hex(data);
    await blocks.put(hash, data);
    await store.recordUpload(user.id, hash, data.length, data.length, clock.timers.now());
    const i = n++;
    await store.commitFile(
      { userId: user.id, deviceId: 0, now: clock.timers.now() },
      {
        ns: user.homeNs,
        node: { path: `/f${i}.txt` },
        parentRev: null,
        blocks: [{ hash, size: data.length }],
        size: data.length,
        mtime: 1,
        mode: 0o644,
      },
    );
    indexer.wake();
  };
  const find = async (q: string) => (await store.searchContent(user.id, q, 500)).hits.length;
  const behind = async () => (await store.searchContent(user.id, 'anything', 1)).behind;
  return { ...clock, indexer, commit, slices, find, behind };
}

const text = (i: number, kib: number) => `marker_${i} `.padEnd(kib * 1024, 'lorem ipsum ');

t.test('a burst of commits is indexed after it ends, not during it', async (t) => {
  const s = await setup();
  s.indexer.start();
  await s.settle();
  // 40 commits, 100 ms apart: 4 s of burst, shorter than the longest deferral.
  for (let i = 0; i < 40; i++) {
    await s.commit(text(i, 4));
    await s.advance(100);
  }
  t.equal(s.slices.length, 0, 'no index transaction during the burst');
  t.equal(await s.behind(), true);
  await s.advance(149); // 249 ms after the last commit
  t.equal(s.slices.length, 0, 'still quiet-waiting');
  await s.advance(1); // 250 ms: quiet
  t.ok(s.slices.length > 0, 'indexed once commits were quiet');
  t.equal(await s.behind(), false, 'caught up');
  t.equal(await s.find('marker_39 '), 1);
  t.equal(await s.find('lorem'), 40);
});

t.test('a burst that starts while it indexes stops it at the next slice', async (t) => {
  let commitDuring: ((n: number) => void) | null = null;
  const s = await setup({ onApply: (n) => commitDuring?.(n) });
  for (let i = 0; i < 60; i++) await s.commit(text(i, 16)); // a backlog of some 1 MiB of text
  s.indexer.start();
  await s.advance(250);
  commitDuring = null;
  // (Without a commit during the indexing, the whole backlog is indexed now.)
  t.equal(await s.behind(), false);
  const before = s.slices.length;

  for (let i = 0; i < 60; i++) await s.commit(text(100 + i, 16));
  // A new commit lands during the third slice.
  commitDuring = (n) => n === before + 3 && s.indexer.wake();
  await s.advance(250);
  const indexed = s.slices.length - before;
  t.ok(indexed >= 3 && indexed <= 4, `stopped after the slice under way (${indexed} slices)`);
  t.equal(await s.behind(), true, 'the rest waits');
  commitDuring = null;
  await s.advance(250);
  t.equal(await s.behind(), false, 'and is indexed once commits are quiet again');
  t.equal(await s.find('lorem'), 120);
});

t.test('an endless burst does not starve search: slices at a low duty cycle', async (t) => {
  const s = await setup();
  s.indexer.start();
  await s.settle();
  const start = s.timers.now();
  let firstSlice: number | null = null;
  // 20 s of commits of 8 KiB, 50 ms apart.
  for (let i = 0; i < 400; i++) {
    await s.commit(text(i, 8));
    await s.advance(50);
    if (firstSlice === null && s.slices.length) firstSlice = s.timers.now() - start;
  }
  t.ok(
    firstSlice !== null && firstSlice >= 5_000 && firstSlice <= 5_100,
    `first slice after the deferral (${firstSlice} ms)`,
  );
  const during = s.slices.filter((x) => x.at - start >= 5_000);
  const busy = during.reduce((n, x) => n + x.ms, 0);
  t.ok(during.length > 20, `indexing went on during the burst (${during.length} slices)`);
  t.ok(busy / 15_000 <= 0.12, `duty cycle ${((100 * busy) / 15_000).toFixed(1)}% of the thread`);
  t.ok((await s.find('lorem')) > 100, 'part of it searchable during the burst');
  await s.advance(250);
  t.equal(await s.behind(), false);
  t.equal(await s.find('lorem'), 400);
});

t.test('transactions are sized to their measured time (no long hold of the request thread)', async (t) => {
  const s = await setup();
  // A backlog of 200 texts of 8 KiB and one of 200 KiB: a fixed budget of 32 texts or 256 KiB
  // would make transactions of 128 ms on this engine.
  for (let i = 0; i < 100; i++) await s.commit(text(i, 8));
  await s.commit(text(1000, 200));
  for (let i = 100; i < 200; i++) await s.commit(text(i, 8));
  await s.indexer.drain();
  t.equal(await s.find('lorem'), 201);
  const many = s.slices.filter((x) => x.docs > 1);
  const worst = Math.max(...many.map((x) => x.ms));
  t.ok(worst <= 50, `no multi-text transaction over 50 ms (longest ${worst} ms)`);
  const settled = many.slice(4).map((x) => x.ms);
  t.ok(
    settled.every((ms) => ms <= 2 * CONTENT_SLICE_MS),
    `after the first few, about CONTENT_SLICE_MS each (${settled.join(', ')})`,
  );
  const big = s.slices.find((x) => x.bytes >= 200 * 1024);
  t.equal(big?.docs, 1, 'the large text alone in its transaction');
});

t.test('a 1 MiB text: its first 256 KiB indexed, one transaction of at most that much text', async (t) => {
  const s = await setup();
  // 1 MiB: a word at the start, one just inside the first 256 KiB, one past it, one at the end.
  const head = 'alpha_start '.padEnd(DEFAULT_CONTENT_TEXT_BYTES - 20, 'lorem ipsum ') + 'beta_inside ';
  const big = head.padEnd(DEFAULT_CONTENT_TEXT_BYTES + 100, 'x') + ' gamma_past ';
  await s.commit(big.padEnd((1 << 20) - 12, 'dolor sit ') + ' delta_end');
  await s.indexer.drain();
  t.equal(s.slices.length, 1);
  t.ok(
    s.slices[0]!.bytes <= DEFAULT_CONTENT_TEXT_BYTES,
    `the transaction held ${s.slices[0]!.bytes} bytes of text (≤ 256 KiB)`,
  );
  t.equal(await s.find('alpha_start'), 1);
  t.equal(await s.find('beta_inside'), 1, 'the whole first 256 KiB');
  t.equal(await s.find('gamma_past'), 0, 'past the prefix: not searched (the README says so)');
  t.equal(await s.find('delta_end'), 0);
});

t.test('the cut never splits a character: a UTF-8 text is still text', async (t) => {
  for (const pad of [0, 1, 2, 3]) {
    // "€" is 3 bytes, "😀" 4: the limit falls inside one at some padding.
    const bytes = Buffer.from('a'.repeat(pad) + '€😀'.repeat(100));
    for (let limit = 1; limit < 40; limit++) {
      const text = sniffTextPrefix(bytes, limit);
      t.ok(text !== null && Buffer.byteLength(text!) <= limit && bytes.toString().startsWith(text!));
      if (text === null) return;
    }
  }
  t.equal(sniffTextPrefix(Buffer.from('ab\0cd'), 10), null, 'a NUL: binary');
  t.equal(sniffTextPrefix(Buffer.from('abcd\0'), 3), 'abc', 'past the prefix: not looked at');
  t.equal(sniffTextPrefix(Buffer.from([0x61, 0xff, 0x62]), 10), null, 'invalid UTF-8: binary');
});
