/**
 * A seeded fuzz run of the sharing routes (issue 13, "Bad input and attacks") with two users'
 * valid tokens, on the real HTTP app in process: odd paths, ids, secrets, bodies and headers to
 * /v1/links, /v1/links/revoke, /v1/devices/revoke and /s/…; never a 5xx, and never a byte of the
 * other user's content nor a link of theirs revoked.
 */
import t from 'tap';
import { MemoryBlockStore } from '../../../src/blockstore/memory-block-store.js';
import { SqliteMetadataStore } from '../../../src/metastore/sqlite/sqlite-metadata-store.js';
import { addDevice } from '../../../src/server/accounts.js';
import { buildApp } from '../../../src/server/http/app.js';
import { JournalHub } from '../../../src/server/journal-hub.js';
import { sha256hex } from '../../../src/shared/hash.js';
import { prng } from '../../helpers/prng.js';

const clock = { now: () => 1_700_000_000_000 };
const meta = new SqliteMetadataStore({ filename: ':memory:' });
const app = await buildApp({ meta, blocks: new MemoryBlockStore(), hub: new JournalHub(), clock });
t.teardown(async () => {
  await app.close();
  await meta.close();
});

const SECRET_TEXT = 'ALICE-ONLY-CONTENT';
const users: Record<string, { auth: Record<string, string>; ns: number }> = {};
for (const name of ['alice', 'bob']) {
  const d = await addDevice(meta, clock, name, { createUser: true, device: `${name}-pc` });
  users[name] = { auth: { authorization: `Bearer ${d.token}` }, ns: (await meta.findUser(name))!.homeNs };
}
const data = Buffer.from(SECRET_TEXT);
const hash = sha256hex(data);
await app.inject({
  method: 'PUT',
  url: `/v1/blocks/${hash}`,
  headers: { ...users.alice!.auth, 'content-type': 'application/octet-stream' },
  payload: data,
});
for (const path of ['/private/a.txt', '/private/sub/b.txt']) {
  await app.inject({
    method: 'POST',
    url: '/v1/commit',
    headers: users.alice!.auth,
    payload: { path, parentRev: null, blocks: [{ hash, size: data.length }], size: data.length, mtime: 1 },
  });
}
const aliceLink = (
  await app.inject({
    method: 'POST',
    url: '/v1/links',
    headers: users.alice!.auth,
    payload: { path: '/private' },
  })
).json() as { id: number; secret: string };

t.test('fuzzed sharing requests: no 5xx, no cross-user read or revoke', async (t) => {
  const rnd = prng(Number(process.env.LOFT_FUZZ_SEED ?? 1301));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const odd = [
    '/private',
    '/private/a.txt',
    '../private',
    '/../private/a.txt',
    '/private/./a.txt',
    '',
    '/',
    '//',
    '/%2e%2e/',
    '/\u0000',
    '/a\nb',
    'x'.repeat(9000),
    '/private/sub/../a.txt',
    '/ünï/çødé',
  ];
  const values: unknown[] = [
    ...odd,
    0,
    -1,
    1,
    2,
    3,
    aliceLink.id,
    2 ** 53,
    1.5,
    null,
    true,
    [],
    {},
    users.alice!.ns,
    users.bob!.ns,
    aliceLink.secret,
    aliceLink.secret.slice(1),
  ];
  const fields = ['path', 'id', 'ns', 'expiresInMs', 'password', 'secret', 'name', 'extra'];
  let requests = 0;
  const bobLinks = new Set<number>();
  for (let i = 0; i < 600; i++) {
    const kind = pick(['link', 'revoke', 'device', 'public', 'public']);
    // Alice only makes links (a revoke of her own would end the link the last check needs).
    const who = kind === 'link' && rnd() < 0.3 ? 'alice' : 'bob';
    let res;
    if (kind === 'public') {
      const tail = pick([
        '',
        '/',
        '/a.txt',
        '/sub/',
        '/sub/b.txt',
        '/..',
        '/%2e%2e/a.txt',
        '/?zip=1',
        '/sub?zip=1',
      ]);
      const secret = pick([
        aliceLink.secret,
        aliceLink.secret.toUpperCase(),
        'x',
        '%00',
        aliceLink.secret + 'x',
      ]);
      const headers: Record<string, string> = {};
      if (rnd() < 0.3)
        headers.range = pick([
          'bytes=0-',
          'bytes=-5',
          'bytes=5-1',
          'bytes=99999-',
          'bytes=a-b',
          'bytes=0-0,2-3',
        ]);
      if (rnd() < 0.2)
        headers.authorization = pick(['Basic Og==', 'Basic !!', users.bob!.auth.authorization!]);
      res = await app.inject({ method: pick(['GET', 'HEAD']), url: `/s/${secret}${tail}`, headers });
      if (res.statusCode === 200 && secret !== aliceLink.secret)
        t.fail(`a wrong secret served: /s/${secret}${tail}`);
    } else {
      const body: Record<string, unknown> = {};
      for (const f of fields) if (rnd() < 0.35) body[f] = pick(values);
      const url =
        kind === 'link' ? '/v1/links' : kind === 'revoke' ? '/v1/links/revoke' : '/v1/devices/revoke';
      res = await app.inject({ method: 'POST', url, headers: users[who]!.auth, payload: body });
      if (who === 'bob' && kind === 'revoke' && res.statusCode === 200) {
        const { revoked } = res.json() as { revoked: number };
        if (!bobLinks.has(revoked)) t.fail(`bob revoked a link not his: ${JSON.stringify(body)}`);
      }
      if (who === 'bob' && kind === 'link' && res.statusCode === 200) {
        // A link bob made can only be to his own (empty) tree: it must never serve alice's bytes.
        const link = res.json() as { id: number; path: string };
        bobLinks.add(link.id);
        const served = await app.inject({ url: `${link.path}/?zip=1` });
        const file = await app.inject({ url: link.path });
        if (served.rawPayload.includes(SECRET_TEXT) || file.rawPayload.includes(SECRET_TEXT))
          t.fail(`bob's link served alice's content: ${JSON.stringify(body)}`);
      }
      if (who === 'bob' && kind === 'device' && res.statusCode === 200)
        t.fail('bob revoked a device by that body');
    }
    requests++;
    if (res.statusCode >= 500) t.fail(`${kind} → ${res.statusCode}: ${res.body.slice(0, 200)}`);
    if (who === 'bob' && kind !== 'public' && res.body.includes(SECRET_TEXT))
      t.fail('alice content in an answer to bob');
  }
  t.equal(requests, 600);
  const still = await app.inject({ url: `/s/${aliceLink.secret}/a.txt` });
  t.equal(still.statusCode, 200, "alice's link survived bob's attempts");
  t.equal(still.body, SECRET_TEXT);
  t.equal(
    (await app.inject({ url: '/v1/whoami', headers: users.alice!.auth })).statusCode,
    200,
    'alice not revoked',
  );
});
