/**
 * GroupSync (issue 17 item 1): changes closed within a window share one batch of fsyncs; fsync(2)
 * runs the batch at once and waits; a failed batch is tried again and its error reaches the waiter.
 * Timers are a manual clock: nothing here depends on real time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import type { Timers } from '../../../src/shared/clock.js';
import type { DirtyFile } from '../../../src/client/vfs/dirty-files.js';
import { DEFER_MIN, DEFER_MS, GroupSync, MAX_BATCH, WINDOW_MS } from '../../../src/client/vfs/group-sync.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'loft-group-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** Timers that fire only when the test says so. */
function manualTimers(): Timers & { fire(): void; armed: number } {
  let next = 1;
  const due = new Map<number, () => void>();
  return {
    now: () => 0,
    setTimeout: (fn) => {
      due.set(next, fn);
      return next++;
    },
    clearTimeout: (h) => void due.delete(h as number),
    fire() {
      const fns = [...due.values()];
      due.clear();
      for (const fn of fns) fn();
    },
    get armed() {
      return due.size;
    },
  };
}

interface FakeFile {
  d: DirtyFile;
  syncs: number;
  fail: Error | null;
}

function file(id: number, size = 1024): FakeFile {
  const f: FakeFile = { d: null as unknown as DirtyFile, syncs: 0, fail: null };
  f.d = {
    id,
    size,
    orphaned: false,
    file: {
      sync: async () => {
        if (f.fail) throw f.fail;
        f.syncs++;
      },
    },
  } as unknown as DirtyFile;
  return f;
}

function group(timers: Timers, removed = new Set<number>()) {
  const counts = { mirror: 0 };
  const g = new GroupSync({
    timers,
    stagingDir: dir,
    syncMirror: () => void counts.mirror++,
    current: (d) => !removed.has(d.id),
  });
  return { g, counts };
}

const settle = () => new Promise((r) => setImmediate(r));

t.test('changes closed within the window share one batch; nothing is synced before it', async (t) => {
  const timers = manualTimers();
  const { g, counts } = group(timers);
  const files = [file(1), file(2), file(3)];
  for (const f of files) g.enlist(f.d);
  g.enlist(files[0]!.d); // closed twice: synced once
  t.equal(timers.armed, 1, `one timer for the window (${WINDOW_MS} ms)`);
  await settle();
  t.same(
    files.map((f) => f.syncs),
    [0, 0, 0],
    'close returned without an fsync',
  );
  timers.fire();
  await g.flush(); // waits for the batch the timer started
  t.same(
    files.map((f) => f.syncs),
    [1, 1, 1],
    'each file fsynced once',
  );
  t.equal(counts.mirror, 1, 'the mirror synced once for all of them');
  t.equal(g.batches, 1, 'one batch');
});

t.test('fsync(2) runs the batch at once and waits for it; an empty flush does nothing', async (t) => {
  const timers = manualTimers();
  const { g, counts } = group(timers);
  const f = file(1);
  g.enlist(f.d);
  await g.flush();
  t.equal(f.syncs, 1, 'durable when flush resolves');
  t.equal(timers.armed, 0, 'the window timer is cancelled');
  await g.flush();
  t.equal(g.batches, 1, 'nothing pending: no batch');
  t.equal(counts.mirror, 1);
});

t.test(`a group of ${MAX_BATCH} runs without waiting for the window`, async (t) => {
  const timers = manualTimers();
  const { g } = group(timers);
  const files = Array.from({ length: MAX_BATCH }, (_, i) => file(i + 1));
  for (const f of files) g.enlist(f.d);
  await g.flush();
  t.equal(g.batches, 1, 'one batch');
  t.ok(
    files.every((f) => f.syncs === 1),
    'all synced',
  );
});

t.test('a staging uploaded and removed meanwhile is skipped', async (t) => {
  const timers = manualTimers();
  const removed = new Set<number>([2]);
  const { g } = group(timers, removed);
  const a = file(1);
  const b = file(2);
  g.enlist(a.d);
  g.enlist(b.d);
  await g.flush();
  t.equal(a.syncs, 1);
  t.equal(b.syncs, 0, 'nothing to keep for a removed staging');
});

t.test('a failed fsync reaches the waiter, and the file is tried again', async (t) => {
  const timers = manualTimers();
  const { g } = group(timers);
  const f = file(1);
  f.fail = Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
  g.enlist(f.d);
  await t.rejects(g.flush(), /EIO/, 'fsync(2) hears of it');
  t.equal(timers.armed, 1, 'a retry is due');
  f.fail = null;
  timers.fire();
  await g.flush();
  t.equal(f.syncs, 1, 'synced by the retry');
});

t.test(`a big file waits for its upload up to ${DEFER_MS} ms before its fsync`, async (t) => {
  const timers = manualTimers();
  const removed = new Set<number>();
  const { g } = group(timers, removed);
  const big = file(1, DEFER_MIN);
  const small = file(2);
  g.enlist(big.d);
  g.enlist(small.d);
  timers.fire(); // the window: the batch runs
  await settle();
  await settle();
  t.equal(small.syncs, 1, 'the small file is synced with its batch');
  t.equal(big.syncs, 0, 'the big one is not: it waits');
  t.equal(g.deferred, 1);
  g.enlist(big.d); // closed again meanwhile: its deadline does not move
  timers.fire(); // the window again
  await settle();
  t.equal(big.syncs, 0, 'still waiting after another close');
  timers.fire(); // DEFER_MS after its first close
  timers.fire(); // the window of the batch it joins
  await g.flush();
  t.equal(big.syncs, 1, 'synced when its wait is over');
  t.equal(g.deferred, 0);

  const uploaded = file(3, 2 * DEFER_MIN);
  g.enlist(uploaded.d);
  timers.fire();
  await settle();
  await settle();
  t.equal(g.deferred, 1);
  removed.add(3); // its upload committed and its staging went
  timers.fire();
  await settle();
  t.equal(uploaded.syncs, 0, 'uploaded before its deadline: never synced (never written to the disk)');
  t.equal(g.deferred, 0);
  t.equal(timers.armed, 0, 'no timer left');
});

t.test('fsync(2) and unmount make a waiting big file durable at once', async (t) => {
  const timers = manualTimers();
  const { g } = group(timers);
  const big = file(1, DEFER_MIN);
  g.enlist(big.d);
  timers.fire();
  await settle();
  await settle();
  t.equal(g.deferred, 1, 'waiting for its upload');
  await g.flush();
  t.equal(big.syncs, 1, 'durable when flush resolves');
  t.equal(g.deferred, 0);
  t.equal(timers.armed, 0, 'its deadline is cancelled');
  const direct = file(2, DEFER_MIN);
  g.enlist(direct.d);
  await g.flush();
  t.equal(direct.syncs, 1, 'a big file fsynced before its batch ran is synced at once');
});
