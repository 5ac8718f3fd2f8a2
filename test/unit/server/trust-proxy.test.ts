/**
 * `--trust-proxy` (src/server/trust-proxy.ts): behind a balancer the sign-in throttle counts per
 * client address (X-Forwarded-For from a trusted peer), so one guesser does not hold everyone's
 * sign-in; without it every request is the balancer's address. The real app in process (inject),
 * SQLite metadata store, an injected clock.
 */
import t from 'tap';
import { MemoryBlockStore } from '../../../src/blockstore/memory-block-store.js';
import { SqliteMetadataStore } from '../../../src/metastore/sqlite/sqlite-metadata-store.js';
import { buildApp } from '../../../src/server/http/app.js';
import { JournalHub } from '../../../src/server/journal-hub.js';
import { parseTrustProxy } from '../../../src/server/trust-proxy.js';

t.test('parseTrustProxy: addresses and CIDR ranges; anything else is one clear error', async (t) => {
  t.same(parseTrustProxy('127.0.0.1'), ['127.0.0.1']);
  t.same(parseTrustProxy(' 10.0.0.5, 10.0.1.0/24 ,::1,fd00::/8'), [
    '10.0.0.5',
    '10.0.1.0/24',
    '::1',
    'fd00::/8',
  ]);
  for (const bad of ['', ',', 'balancer.local', '10.0.0.1/33', '::1/129', '10.0.0.1/8/8', '10.0.0.1/x'])
    t.throws(
      () => parseTrustProxy(bad),
      { code: 'BAD_REQUEST', message: /--trust-proxy/ },
      `refused: "${bad}"`,
    );
});

async function signinStatuses(trustProxy: string[] | undefined): Promise<{ guesser: number; other: number }> {
  const meta = new SqliteMetadataStore({ filename: ':memory:' });
  const app = await buildApp({
    meta,
    blocks: new MemoryBlockStore(),
    hub: new JournalHub(),
    clock: { now: () => 1_700_000_000_000 },
    ...(trustProxy ? { trustProxy } : {}),
  });
  try {
    const signin = (user: string, from: string) =>
      app.inject({
        method: 'POST',
        url: '/v1/web/signin',
        remoteAddress: '127.0.0.1', // the balancer
        headers: { 'x-forwarded-for': from },
        payload: { user, password: 'not it' },
      });
    // A guesser at 198.51.100.1 tries many user names: five failures, then held.
    for (let i = 0; i < 5; i++) await signin(`victim${i}`, '198.51.100.1');
    const guesser = (await signin('victim9', '198.51.100.1')).statusCode;
    // Someone else, elsewhere, signing in to their own account.
    const other = (await signin('carol', '203.0.113.7')).statusCode;
    return { guesser, other };
  } finally {
    await app.close();
    await meta.close();
  }
}

t.test('with the balancer trusted, the throttle holds the guesser, not everyone', async (t) => {
  const trusted = await signinStatuses(['127.0.0.1']);
  t.equal(trusted.guesser, 429, "the guesser's address is held");
  t.equal(trusted.other, 401, 'another client is not (401: a wrong password, checked)');
  const untrusted = await signinStatuses(undefined);
  t.equal(untrusted.guesser, 429);
  t.equal(untrusted.other, 429, "without --trust-proxy every client is the balancer's address");
});
