import t from 'tap';
import { JournalHub } from '../../../src/server/journal-hub.js';

const never = async () => false;

t.test('notify wakes waiters whose cursor is behind, only them', async (t) => {
  const hub = new JournalHub();
  let woke1 = false;
  let woke2 = false;
  const w1 = hub.wait(1, 5, never, { timeoutMs: 10_000 }).then(() => (woke1 = true));
  const w2 = hub.wait(1, 9, never, { timeoutMs: 10_000 }).then(() => (woke2 = true));
  hub.notify(2, 100); // another namespace
  hub.notify(1, 5); // not newer than either
  await new Promise((r) => setTimeout(r, 10));
  t.equal(woke1, false);
  hub.notify(1, 6);
  await w1;
  t.equal(woke2, false);
  t.equal(hub.waiting, 1);
  hub.notify(1, 10);
  await w2;
  t.equal(hub.waiting, 0);
});

t.test('a change that landed before registration is caught by the check', async (t) => {
  const hub = new JournalHub();
  const start = Date.now();
  await hub.wait(1, 5, async () => true, { timeoutMs: 10_000 });
  t.ok(Date.now() - start < 1000);
  t.equal(hub.waiting, 0);
});

t.test('timeout, abort and close release waiters', async (t) => {
  const hub = new JournalHub();
  const start = Date.now();
  await hub.wait(1, 0, never, { timeoutMs: 30 });
  t.ok(Date.now() - start >= 25);
  const ac = new AbortController();
  const p = hub.wait(1, 0, never, { timeoutMs: 10_000, signal: ac.signal });
  ac.abort();
  await p;
  const q = hub.wait(1, 0, never, { timeoutMs: 10_000 });
  hub.close();
  await q;
  t.equal(hub.waiting, 0);
  await hub.wait(1, 0, never, { timeoutMs: 10_000 }); // closed: returns at once
});

t.test('bounded: past maxWaiters a wait is refused with UNAVAILABLE', async (t) => {
  const hub = new JournalHub({ maxWaiters: 2 });
  const a = hub.wait(1, 0, never, { timeoutMs: 10_000 });
  const b = hub.wait(1, 0, never, { timeoutMs: 10_000 });
  await t.rejects(hub.wait(1, 0, never, { timeoutMs: 10_000 }), { code: 'UNAVAILABLE' });
  hub.notify(1, 1);
  await Promise.all([a, b]);
  t.equal(hub.waiting, 0);
});

t.test(
  'waitingOn and wakeAll (cross-server wake-ups): every poll woken once, the hub stays open',
  async (t) => {
    const hub = new JournalHub();
    const never = async () => false;
    t.notOk(hub.waitingOn(1));
    const a = hub.wait(1, 5, never, { timeoutMs: 3_600_000 });
    const b = hub.wait(2, 0, never, { timeoutMs: 3_600_000 });
    t.ok(hub.waitingOn(1));
    t.ok(hub.waitingOn(2));
    t.notOk(hub.waitingOn(3));
    hub.wakeAll();
    await Promise.all([a, b]);
    t.equal(hub.waiting, 0, 'both woken');
    t.notOk(hub.waitingOn(1));
    const c = hub.wait(1, 5, never, { timeoutMs: 3_600_000 });
    t.equal(hub.waiting, 1, 'new polls still wait after wakeAll');
    hub.notify(1, 6);
    await c;
    hub.close();
  },
);
