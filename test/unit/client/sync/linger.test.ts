/**
 * Linger: the push loop waits for more of a burst of changes (to send them in one batch), never for
 * an isolated change, never past LINGER_MAX_MS, never with a full batch queued.
 */
import t from 'tap';
import { Linger, LINGER_MAX_MS, LINGER_QUIET_MS } from '../../../../src/client/sync/linger.js';

t.test('an isolated change goes at once', async (t) => {
  const l = new Linger(100);
  l.changed(1000);
  t.equal(l.wait(1000, 1), 0, 'one op');
  t.equal(l.wait(1000, 3), 0, 'a create and its commit');
});

t.test('a burst waits for quiet, up to LINGER_MAX_MS in all', async (t) => {
  const l = new Linger(100);
  let now = 1000;
  l.changed(now);
  t.equal(l.wait(now, 10), LINGER_QUIET_MS, 'changes just came: wait for quiet');
  now += 5;
  t.equal(l.wait(now, 10), LINGER_QUIET_MS - 5, 'the rest of the quiet period');
  now += LINGER_QUIET_MS;
  t.equal(l.wait(now, 10), 0, 'quiet: send');
  // Changes that never stop: sent after LINGER_MAX_MS.
  const start = now;
  let waited = 0;
  for (;;) {
    l.changed(now);
    const ms = l.wait(now, 50);
    if (ms === 0) break;
    waited += 1;
    now += 1;
  }
  t.equal(now - start, LINGER_MAX_MS, 'sent after the cap');
  t.ok(waited > 0);
  l.changed(now);
  t.equal(l.wait(now, 50), LINGER_QUIET_MS, 'a new wait starts after a send');
});

t.test('after a big batch (a backlog) the next goes at once; after a small one it waits', async (t) => {
  const l = new Linger(100);
  l.changed(0);
  t.equal(l.sent(25), 25);
  t.equal(l.wait(0, 50), 0, 'the push is what is slow: no waiting');
  l.sent(24);
  t.equal(l.wait(0, 50), LINGER_QUIET_MS, 'a small batch: gather more');
  l.sent(0);
  t.equal(l.wait(0, 50), LINGER_QUIET_MS, 'a single op: gather more');
});

t.test('a full batch goes at once', async (t) => {
  const l = new Linger(100);
  l.changed(0);
  t.equal(l.wait(0, 100), 0);
  t.equal(l.wait(0, 5000), 0);
});

t.test('hold sleeps for the wait and says so', async (t) => {
  const l = new Linger(100);
  const slept: number[] = [];
  const sleep = { sleep: async (ms: number) => void slept.push(ms) };
  l.changed(0);
  t.equal(await l.hold(0, 1, sleep), false);
  t.equal(await l.hold(0, 20, sleep), true);
  t.same(slept, [LINGER_QUIET_MS]);
});
