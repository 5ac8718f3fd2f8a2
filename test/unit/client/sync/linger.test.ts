/**
 * Linger: the push loop holds a burst of changes while it runs (whatever is queued, full batches
 * too), never an isolated change, never past LINGER_MAX_MS; after the cap it catches up at once.
 */
import t from 'tap';
import { Linger, LINGER_MAX_MS, LINGER_QUIET_MS } from '../../../../src/client/sync/linger.js';

t.test('an isolated change goes at once', async (t) => {
  const l = new Linger(100);
  l.changed(1000);
  t.equal(l.wait(1000, 1), 0, 'one op');
  t.equal(l.wait(1000, 3), 0, 'a create and its commit');
});

t.test('a burst is held until it stops, full batches queued or not', async (t) => {
  const l = new Linger(100);
  let now = 1000;
  l.changed(now);
  t.equal(l.wait(now, 10), LINGER_QUIET_MS, 'changes just came: wait for quiet');
  now += 5;
  t.equal(l.wait(now, 10), LINGER_QUIET_MS - 5, 'the rest of the quiet period');
  for (let i = 0; i < 100; i++) {
    now += 20;
    l.changed(now);
    t.equal(l.wait(now, 10 + 50 * i), LINGER_QUIET_MS, `held with ${10 + 50 * i} ops queued`);
  }
  now += LINGER_QUIET_MS;
  t.equal(l.wait(now, 5000), 0, 'quiet: send');
  t.equal(l.wait(now + 1, 4900), 0, 'and the next batch at once: the burst is over');
});

t.test('a burst that never stops is held LINGER_MAX_MS, then caught up with, then held again', async (t) => {
  const l = new Linger(100);
  let now = 0;
  const start = now;
  let pending = 10;
  // Changes that never stop, 10 a millisecond apart.
  for (;;) {
    l.changed(now);
    pending += 1;
    if (l.wait(now, pending) === 0) break;
    now += 1;
  }
  t.equal(now - start, LINGER_MAX_MS, 'sent after the cap');
  // Catching up: every batch goes at once while more than a quarter of a batch is queued, even
  // as changes keep coming.
  let batches = 0;
  while (pending > 25) {
    l.changed(now);
    t.equal(l.wait(now, pending), 0, `caught up with at once (${pending} queued)`);
    pending -= 100;
    batches++;
    now += 1;
  }
  t.ok(batches > 1, `${batches} batches back to back`);
  l.changed(now);
  t.equal(l.wait(now, 20), LINGER_QUIET_MS, 'caught up: a new hold begins');
  now += LINGER_MAX_MS - 1;
  l.changed(now);
  t.equal(l.wait(now, 500), 1, 'for LINGER_MAX_MS again');
});

t.test('a pause ends the catching up', async (t) => {
  const l = new Linger(100);
  let now = 0;
  l.changed(now);
  t.equal(l.wait(now, 1000), LINGER_QUIET_MS, 'held');
  now += LINGER_MAX_MS;
  l.changed(now);
  t.equal(l.wait(now, 1000), 0, 'the cap: catching up');
  now += LINGER_QUIET_MS; // the burst stopped: sent anyway
  t.equal(l.wait(now, 900), 0);
  l.changed(now); // a new burst: held again, however much is queued
  t.equal(l.wait(now, 800), LINGER_QUIET_MS);
});

t.test('hold sleeps for the wait and says so', async (t) => {
  const l = new Linger(100);
  const slept: number[] = [];
  const sleep = { sleep: async (ms: number) => void slept.push(ms) };
  const shown = { holding: false };
  l.changed(0);
  t.equal(await l.hold(0, 1, sleep, shown), false);
  t.equal(shown.holding, false, 'an isolated change is not held');
  t.equal(await l.hold(0, 20, sleep, shown), true);
  t.equal(shown.holding, true, 'a burst is shown as held');
  t.same(slept, [LINGER_QUIET_MS]);
  t.equal(await l.hold(LINGER_QUIET_MS, 20, sleep, shown), false);
  t.equal(shown.holding, false, 'and no longer once it is sent');
});
