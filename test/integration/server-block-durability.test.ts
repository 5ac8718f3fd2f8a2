/**
 * The server's block durability rule (docs/PROTOCOL.md, "Durability"): PUTs answer before their
 * block is synced, and a commit waits until every block it references is durable; a block the
 * store lost (a power loss before its group was synced) is asked for again with BLOCK_UNUSABLE,
 * never committed. Against a real `loft serve` process.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { sha256hex } from '../../src/shared/hash.js';
import { Api } from '../helpers/api.js';
import { ServerProcess } from '../helpers/server-process.js';

const server = new ServerProcess();
t.teardown(() => server.dispose());

const blockFile = (hash: string) =>
  path.join(server.dataDir, 'blocks', hash.slice(0, 2), hash.slice(2, 4), hash);

t.test('a committed block is durable in place; a lost one is asked for again, never committed', async (t) => {
  await server.start();
  let alice = new Api(server.url, await server.addUser('alice'));
  const blocks = Array.from({ length: 12 }, () => randomBytes(300_000));
  const refs = blocks.map((b) => ({ hash: sha256hex(b), size: b.length }));
  for (const [i, b] of blocks.entries())
    t.equal((await alice.call('PUT', `/v1/blocks/${refs[i]!.hash}`, b)).status, 201);
  const size = blocks.reduce((n, b) => n + b.length, 0);
  const commit = (p: string, which = refs) =>
    alice.post('/v1/commit', {
      path: p,
      parentRev: null,
      blocks: which,
      size: which.reduce((n, b) => n + b.size, 0),
      mtime: 1,
    });
  const first = await commit('/a.bin');
  t.equal(first.status, 200, JSON.stringify(first.body));
  t.equal(size, 12 * 300_000);
  for (const r of refs) t.ok(existsSync(blockFile(r.hash)), 'every block of a commit is in its final place');

  // A block sent but never committed, then lost: what a power loss before its group's sync leaves.
  const lostData = randomBytes(200_000);
  const lost = { hash: sha256hex(lostData), size: lostData.length };
  t.equal((await alice.call('PUT', `/v1/blocks/${lost.hash}`, lostData)).status, 201);
  await server.stop();
  t.same(
    readdirSync(path.join(server.dataDir, 'blocks', 'tmp')),
    [],
    'a clean stop syncs every pending block',
  );
  rmSync(blockFile(lost.hash));
  await server.start();
  alice = new Api(server.url, alice.token);
  // The metadata still says it was sent, so `missing` does not ask for it; the commit does.
  t.same((await alice.post('/v1/blocks/missing', { hashes: [lost.hash] })).body, { missing: [] });
  const refused = await commit('/b.bin', [refs[0]!, lost]);
  t.equal(refused.status, 400);
  t.match(refused.body, { error: { code: 'BLOCK_UNUSABLE', missing: [lost.hash] } });
  const batch = await alice.post('/v1/batch', {
    ops: [
      { op: 'commit', path: '/c.bin', parentRev: null, blocks: [lost], size: lost.size, mtime: 1 },
      { op: 'mkdir', path: '/d' },
    ],
  });
  t.equal(batch.status, 200);
  t.match(batch.body, {
    results: [{ error: { code: 'BLOCK_UNUSABLE', missing: [lost.hash] } }, { rev: Number }],
  });
  t.equal((await alice.get('/v1/node?path=/b.bin')).status, 404, 'nothing was committed');
  // Sent again, it commits.
  t.ok([200, 201].includes((await alice.call('PUT', `/v1/blocks/${lost.hash}`, lostData)).status));
  t.equal((await commit('/b.bin', [refs[0]!, lost])).status, 200);
  t.ok(existsSync(blockFile(lost.hash)));
  t.ok((await alice.get(`/v1/blocks/${lost.hash}`)).raw.equals(lostData));
});
