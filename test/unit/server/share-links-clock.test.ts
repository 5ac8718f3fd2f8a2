/**
 * Share link expiry and the wrong-password throttle on an injected clock (issue 13, item 2): the
 * real HTTP app (routes, auth, SQLite metadata store) in process, time moved by the test, so
 * nothing races the wall clock. Everything else about links runs through real processes in
 * test/integration/share-links.test.ts.
 */
import t from 'tap';
import { MemoryBlockStore } from '../../../src/blockstore/memory-block-store.js';
import { SqliteMetadataStore } from '../../../src/metastore/sqlite/sqlite-metadata-store.js';
import { addDevice } from '../../../src/server/accounts.js';
import { buildApp, loggedUrl } from '../../../src/server/http/app.js';
import { JournalHub } from '../../../src/server/journal-hub.js';
import { FIRST_LOCK_MS, FREE_ATTEMPTS, MAX_LOCK_MS } from '../../../src/server/link-secrets.js';
import { sha256hex } from '../../../src/shared/hash.js';

let now = 1_700_000_000_000;
const clock = { now: () => now };
const meta = new SqliteMetadataStore({ filename: ':memory:' });
const blocks = new MemoryBlockStore();
const app = await buildApp({ meta, blocks, hub: new JournalHub(), clock });
t.teardown(async () => {
  await app.close();
  await meta.close();
});
const { token } = await addDevice(meta, clock, 'alice', { createUser: true, device: 'laptop' });
const auth = { authorization: `Bearer ${token}` };
const data = Buffer.from('shared bytes\n');
const hash = sha256hex(data);
await app.inject({
  method: 'PUT',
  url: `/v1/blocks/${hash}`,
  headers: { ...auth, 'content-type': 'application/octet-stream' },
  payload: data,
});
const commit = await app.inject({
  method: 'POST',
  url: '/v1/commit',
  headers: auth,
  payload: {
    path: '/a.txt',
    parentRev: null,
    blocks: [{ hash, size: data.length }],
    size: data.length,
    mtime: 1,
  },
});
if (commit.statusCode !== 200) throw new Error(commit.body);

async function link(body: Record<string, unknown>): Promise<string> {
  const r = await app.inject({
    method: 'POST',
    url: '/v1/links',
    headers: auth,
    payload: { path: '/a.txt', ...body },
  });
  if (r.statusCode !== 200) throw new Error(r.body);
  return (r.json() as { path: string }).path;
}

const basic = (password: string) => ({
  authorization: `Basic ${Buffer.from(`:${password}`).toString('base64')}`,
});

t.test('a link expires at its time exactly, at once', async (t) => {
  const url = await link({ expiresInMs: 7 * 86_400_000 });
  t.equal((await app.inject(url)).statusCode, 200);
  now += 7 * 86_400_000 - 1;
  t.equal((await app.inject(url)).statusCode, 200, 'a millisecond before: served');
  now += 1;
  t.equal((await app.inject(url)).statusCode, 404, 'at its expiry: 404');
  const list = (await app.inject({ url: '/v1/links', headers: auth })).json() as {
    links: { live: boolean }[];
  };
  t.equal(list.links[0]!.live, false, 'listed as not live');
});

t.test('wrong passwords are throttled per link; a right one resets', async (t) => {
  const url = await link({ password: 'right' });
  const other = await link({ password: 'right' });
  for (let i = 0; i < FREE_ATTEMPTS; i++)
    t.equal((await app.inject({ url, headers: basic(`wrong${i}`) })).statusCode, 401, `wrong #${i + 1}: 401`);
  t.equal((await app.inject({ url, headers: basic('wrong') })).statusCode, 401, 'one more: 401, and locks');
  const locked = await app.inject({ url, headers: basic('right') });
  t.equal(locked.statusCode, 429, 'locked: even the right password waits');
  t.equal(locked.headers['retry-after'], String(FIRST_LOCK_MS / 1000));
  t.equal(
    (await app.inject({ url: other, headers: basic('right') })).statusCode,
    200,
    'other links are not locked',
  );
  now += FIRST_LOCK_MS;
  t.equal(
    (await app.inject({ url, headers: basic('wrong') })).statusCode,
    401,
    'after the lock: tried again',
  );
  t.equal((await app.inject({ url, headers: basic('right') })).statusCode, 429, 'the next lock is longer');
  now += 2 * FIRST_LOCK_MS - 1;
  t.equal((await app.inject({ url, headers: basic('right') })).statusCode, 429, 'twice as long');
  now += 1;
  const ok = await app.inject({ url, headers: basic('right') });
  t.equal(ok.statusCode, 200);
  t.equal(ok.body, data.toString());
  for (let i = 0; i <= FREE_ATTEMPTS; i++) await app.inject({ url, headers: basic('wrong') });
  t.equal(
    (await app.inject({ url, headers: basic('right') })).statusCode,
    429,
    'reset: the first lock again',
  );
  now += FIRST_LOCK_MS;
  t.equal((await app.inject({ url, headers: basic('right') })).statusCode, 200);
  // The lock never grows past MAX_LOCK_MS.
  for (let i = 0; i < 40; i++) {
    now += MAX_LOCK_MS;
    await app.inject({ url, headers: basic('wrong') });
  }
  const last = await app.inject({ url, headers: basic('right') });
  t.equal(last.statusCode, 429);
  t.ok(Number(last.headers['retry-after']) <= MAX_LOCK_MS / 1000, 'capped');
});

t.test('a device revoked is refused at its next request', async (t) => {
  const second = await addDevice(meta, clock, 'alice', { device: 'phone' });
  const phone = { authorization: `Bearer ${second.token}` };
  t.equal((await app.inject({ url: '/v1/whoami', headers: phone })).statusCode, 200);
  const list = (await app.inject({ url: '/v1/devices', headers: auth })).json() as {
    devices: { name: string; lastSeenAt: number | null; current: boolean }[];
  };
  t.same(
    list.devices.map((d) => [d.name, d.current, d.lastSeenAt !== null]),
    [
      ['laptop', true, true],
      ['phone', false, true],
    ],
  );
  const r = await app.inject({
    method: 'POST',
    url: '/v1/devices/revoke',
    headers: auth,
    payload: { name: 'phone' },
  });
  t.equal(r.statusCode, 200);
  t.equal((await app.inject({ url: '/v1/whoami', headers: phone })).statusCode, 401);
  const again = await app.inject({
    method: 'POST',
    url: '/v1/devices/revoke',
    headers: auth,
    payload: { name: 'phone' },
  });
  t.equal(again.statusCode, 404, 'no live device of that name any more');
});

t.test('a link secret is never in a logged URL', async (t) => {
  t.equal(loggedUrl('/s/abcDEF_-123/sub/a.txt?zip=1'), '/s/<secret>/sub/a.txt?zip=1');
  t.equal(loggedUrl('/s/abc?zip=1'), '/s/<secret>?zip=1');
  t.equal(loggedUrl('/v1/node?path=/s/x'), '/v1/node?path=/s/x');
});
