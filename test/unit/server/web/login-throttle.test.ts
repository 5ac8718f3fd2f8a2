import t from 'tap';
import { LoginThrottle } from '../../../../src/server/web/login-throttle.js';

function fakeClock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

t.test('five failures pass; then each attempt waits a doubling delay; success clears', async (t) => {
  const clock = fakeClock();
  const th = new LoginThrottle(clock);
  const keys = ['user:alice', 'ip:10.0.0.1'];
  for (let i = 0; i < 4; i++) {
    await th.check(keys);
    await th.failed(keys);
  }
  await th.check(keys);
  await th.failed(keys); // the fifth failure starts the delay: 1 s
  await t.rejects(th.check(keys), { code: 'TOO_MANY_REQUESTS', details: { retryAfter: 1 } });
  clock.advance(999);
  await t.rejects(th.check(keys), { code: 'TOO_MANY_REQUESTS' });
  clock.advance(1);
  await th.check(keys);
  await th.failed(keys); // sixth: 2 s
  await t.rejects(th.check(keys), { code: 'TOO_MANY_REQUESTS', details: { retryAfter: 2 } });
  await t.rejects(th.check(['user:alice']), { code: 'TOO_MANY_REQUESTS' }, 'the user key alone is held');
  await t.rejects(th.check(['ip:10.0.0.1']), { code: 'TOO_MANY_REQUESTS' }, 'and the address alone');
  await th.check(['user:bob', 'ip:10.0.0.2']);
  clock.advance(2000);
  await th.succeeded(keys);
  await th.check(keys);
  await th.failed(keys);
  await th.check(keys); // one failure after a success: no delay
});

t.test('the delay is capped at 15 minutes', async (t) => {
  const clock = fakeClock();
  const th = new LoginThrottle(clock);
  for (let i = 0; i < 40; i++) await th.failed(['user:x']);
  await t.rejects(th.check(['user:x']), { code: 'TOO_MANY_REQUESTS', details: { retryAfter: 900 } });
});
