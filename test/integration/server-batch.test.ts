/**
 * POST /v1/batch against a real `loft serve` process (and, for the count of long-poll wake-ups,
 * the real app in-process over real SQLite and disk stores with a hub that counts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { FsBlockStore } from '../../src/blockstore/fs-block-store.js';
import { SqliteMetadataStore } from '../../src/metastore/sqlite/sqlite-metadata-store.js';
import { RemoteClient } from '../../src/client/remote/remote-client.js';
import { buildApp } from '../../src/server/http/app.js';
import { JournalHub } from '../../src/server/journal-hub.js';
import { hashToken } from '../../src/server/tokens.js';
import { systemClock } from '../../src/shared/clock.js';
import { sha256hex } from '../../src/shared/hash.js';
import { MAX_BATCH_OPS, MAX_INLINE_SIZE } from '../../src/shared/protocol.js';
import { Api, DOCUMENTED_CODES } from '../helpers/api.js';
import { testDatabase } from '../helpers/postgres.js';
import { ServerProcess } from '../helpers/server-process.js';

const server = new ServerProcess();
t.teardown(() => server.dispose());
let alice: Api;
let bob: Api;

t.before(async () => {
  await server.start();
  alice = new Api(server.url, await server.addUser('alice'));
  bob = new Api(server.url, await server.addUser('bob'));
});

const NOW = 1_700_000_000_000;
const TOKEN = `loft_${'c'.repeat(43)}`;
const head = async (api: Api) => (await api.get('/v1/changes?limit=10000')).body.cursor as string;
const inline = (text: string) => {
  const data = Buffer.from(text);
  return {
    blocks: [{ hash: sha256hex(data), size: data.length }],
    size: data.length,
    inline: data.toString('base64'),
  };
};

/** Every error answer (whole or per op) is documented, one line, with a message. */
function checkError(t: Test, body: { error: { code: string; message: string } }, code: string): void {
  t.equal(body.error.code, code);
  t.ok(DOCUMENTED_CODES.has(body.error.code), `${body.error.code} is documented`);
  t.match(body.error.message, /^[^\n]+$/, 'a one-line message');
}

t.test(
  'a mixed batch: results in order; the failing op is answered as its single route would be',
  async (t) => {
    const single = await alice.post('/v1/mkdir', { path: '/exists' });
    t.equal(single.status, 200);
    const again = await alice.post('/v1/mkdir', { path: '/exists' });
    t.equal(again.status, 409);
    const r = await alice.post('/v1/batch', {
      ops: [
        { op: 'mkdir', path: '/m' },
        { op: 'commit', path: '/m/a.txt', parentRev: null, mtime: NOW, ...inline('aaa') },
        { op: 'mkdir', path: '/exists' },
        { op: 'commit', path: '/m/b.txt', parentRev: null, mtime: NOW, mode: 0o600, ...inline('bb') },
        { op: 'move', path: '/m/a.txt', parentRev: 0, toPath: '/m/c.txt' },
      ],
    });
    t.equal(r.status, 200);
    const [mk, a, exists, b, mv] = r.body.results;
    t.match(mk, { rev: Number, node: { name: 'm', kind: 'dir', op: 'mkdir' } });
    t.match(a, { rev: mk.rev + 1, node: { name: 'a.txt', op: 'create', size: 3 } });
    t.same(exists, again.body, 'the same error body as POST /v1/mkdir');
    checkError(t, exists, 'EXISTS');
    t.match(b, { rev: a.rev + 1, node: { name: 'b.txt', mode: 0o600, size: 2 } });
    checkError(t, mv, 'CONFLICT');
    t.equal(mv.error.currentRev, a.rev);
    t.equal(r.body.results.length, 5);
    const listed = await alice.get('/v1/list?path=/m');
    t.same(
      listed.body.entries.map((e: { name: string }) => e.name),
      ['a.txt', 'b.txt'],
    );
  },
);

t.test('parentRef chains: mkdir a; mkdir a/b; create a/b/x; rename it, without knowing ids', async (t) => {
  const r = await alice.post('/v1/batch', {
    ops: [
      { op: 'mkdir', path: '/chain' },
      { op: 'mkdir', parentRef: 0, name: 'b' },
      { op: 'commit', parentRef: 1, name: 'x', parentRev: null, mtime: NOW, ...inline('xx') },
      { op: 'move', ref: 2, toParentRef: 0, toName: 'y' },
      { op: 'commit', ref: 2, mtime: NOW + 1, ...inline('second version') },
      { op: 'delete', ref: 1 },
    ],
  });
  t.equal(r.status, 200);
  const results = r.body.results;
  t.notOk(
    results.some((x: object) => 'error' in x),
    'every op applied',
  );
  const y = await alice.get('/v1/node?path=/chain/y');
  t.match(y.body, { id: results[2].node.id, size: 14, mtime: NOW + 1, rev: results[4].rev });
  t.equal((await alice.get(`/v1/node?id=${results[1].node.id}`)).body.deleted, true);
  t.match(results[5], { rev: Number, deleted: [{ name: 'b', deleted: true }] });
});

t.test('inline content is stored as a block, readable back by its owner only', async (t) => {
  const text = 'small file content\n'.repeat(100);
  const data = Buffer.from(text);
  const hash = sha256hex(data);
  const r = await alice.post('/v1/batch', {
    ops: [{ op: 'commit', path: '/inline.txt', parentRev: null, mtime: NOW, ...inline(text) }],
  });
  t.equal(r.status, 200);
  t.same(r.body.results[0].node.blocks, [{ hash, size: data.length }]);
  const got = await alice.get(`/v1/blocks/${hash}`);
  t.equal(got.status, 200);
  t.ok(got.raw.equals(data), 'GET /v1/blocks answers the inline bytes');
  t.same((await alice.post('/v1/blocks/missing', { hashes: [hash] })).body, { missing: [] });
  t.equal((await bob.get(`/v1/blocks/${hash}`)).status, 404, 'knowing the hash grants nothing');

  // Bytes that do not match the hash fail that op alone, as a PUT would; nothing is stored.
  const wrong = Buffer.from('not what the hash says');
  const liar = {
    blocks: [{ hash: sha256hex(Buffer.from('something else!!!!!!!')), size: wrong.length }],
    size: wrong.length,
    inline: wrong.toString('base64'),
  };
  const mixed = await alice.post('/v1/batch', {
    ops: [
      { op: 'commit', path: '/liar.txt', parentRev: null, mtime: NOW, ...liar },
      { op: 'mkdir', path: '/after-liar' },
    ],
  });
  t.equal(mixed.status, 200);
  checkError(t, mixed.body.results[0], 'HASH_MISMATCH');
  t.match(mixed.body.results[1], { node: { name: 'after-liar' } });
  t.equal((await alice.get('/v1/node?path=/liar.txt')).status, 404);

  // A commit that fails (here CONFLICT) keeps its inline block, as a PUT would have: a retry
  // references it without sending the bytes again.
  const late = inline('lost the race');
  const conflict = await alice.post('/v1/batch', {
    ops: [{ op: 'commit', path: '/inline.txt', parentRev: null, mtime: NOW, ...late }],
  });
  checkError(t, conflict.body.results[0], 'CONFLICT');
  t.same((await alice.post('/v1/blocks/missing', { hashes: [late.blocks[0]!.hash] })).body, { missing: [] });

  // The same content in two files is written once and committed twice; a block may be referenced
  // by a later op without being sent again.
  const twice = await alice.post('/v1/batch', {
    ops: [
      { op: 'commit', path: '/twin1', parentRev: null, mtime: NOW, ...inline('twin') },
      { op: 'commit', path: '/twin2', parentRev: null, mtime: NOW, ...inline('twin') },
      { op: 'commit', path: '/twin3', parentRev: null, mtime: NOW, ...inline('twin'), inline: undefined },
    ],
  });
  t.same(
    twice.body.results.map((x: { node?: { size: number } }) => x.node?.size),
    [4, 4, 4],
  );
});

t.test('per-op access: a namespace the caller may not write fails those ops only', async (t) => {
  const bobNs = (await bob.get('/v1/whoami')).body.ns;
  const r = await alice.post('/v1/batch', {
    ops: [
      { op: 'mkdir', ns: bobNs, path: '/intruder' },
      { op: 'mkdir', path: '/own' },
      { op: 'commit', ns: bobNs, path: '/intruder.txt', parentRev: null, mtime: NOW, ...inline('no') },
    ],
  });
  t.equal(r.status, 200);
  checkError(t, r.body.results[0], 'FORBIDDEN');
  t.match(r.body.results[1], { node: { name: 'own' } });
  checkError(t, r.body.results[2], 'FORBIDDEN');
  t.equal((await bob.get('/v1/node?path=/intruder')).status, 404);
});

t.test('bad input: the whole batch is refused with a one-line 400/413 and nothing is applied', async (t) => {
  const before = await head(alice);
  const bad: [string, unknown, number, RegExp][] = [
    [
      'unknown op',
      {
        ops: [
          { op: 'mkdir', path: '/ok' },
          { op: 'chmod', path: '/x' },
        ],
      },
      400,
      /ops\[1\]: unknown op "chmod"/,
    ],
    ['no op', { ops: [{ path: '/x' }] }, 400, /op/],
    ['not a list', { ops: 'mkdir /x' }, 400, /ops/],
    ['unknown field', { ops: [{ op: 'mkdir', path: '/x', colour: 'red' }] }, 400, /ops\[0\]/],
    ['wrong type', { ops: [{ op: 'mkdir', path: 5 }] }, 400, /ops\[0\]\.path/],
    [
      'ref to itself',
      { ops: [{ op: 'mkdir', parentRef: 0, name: 'x' }] },
      400,
      /ops\[0\]\.parentRef: 0 is not an earlier op/,
    ],
    [
      'ref forward',
      {
        ops: [
          { op: 'mkdir', path: '/a1' },
          { op: 'delete', ref: 2 },
          { op: 'mkdir', path: '/a2' },
        ],
      },
      400,
      /ops\[1\]\.ref/,
    ],
    [
      'negative ref',
      {
        ops: [
          { op: 'mkdir', path: '/a1' },
          { op: 'delete', ref: -1 },
        ],
      },
      400,
      /ops\[1\]\.ref/,
    ],
    [
      'two places',
      {
        ops: [
          { op: 'mkdir', path: '/z' },
          { op: 'mkdir', path: '/a', parentRef: 0, name: 'b' },
        ],
      },
      400,
      /exactly one of/,
    ],
    [
      'path and ref',
      {
        ops: [
          { op: 'mkdir', path: '/a' },
          { op: 'move', path: '/a', ref: 0, toPath: '/b' },
        ],
      },
      400,
      /exactly one of/,
    ],
    ['no parentRev', { ops: [{ op: 'delete', path: '/x' }] }, 400, /"parentRev" is required/],
    [
      'commit without parentRev',
      { ops: [{ op: 'commit', path: '/x', blocks: [], size: 0, mtime: 1 }] },
      400,
      /parentRev/,
    ],
    [
      'inline not base64',
      { ops: [{ op: 'commit', path: '/x', parentRev: null, mtime: 1, blocks: [], size: 0, inline: 'a b' }] },
      400,
      /inline/,
    ],
    ...['YWI', 'YW=I', 'YWI=\n', '-_-_'].map((b64): [string, unknown, number, RegExp] => [
      `inline ${JSON.stringify(b64)}`,
      { ops: [{ op: 'commit', path: '/x', parentRev: null, mtime: 1, blocks: [], size: 0, inline: b64 }] },
      400,
      /ops\[0\]\.inline: not base64/,
    ]),
    [
      'inline without its block',
      { ops: [{ op: 'commit', path: '/x', parentRev: null, mtime: 1, blocks: [], size: 0, inline: 'YWJj' }] },
      400,
      /one block/,
    ],
    [
      'inline too large',
      {
        ops: [
          { op: 'commit', path: '/x', parentRev: null, mtime: 1, ...inline('z'.repeat(MAX_INLINE_SIZE + 1)) },
        ],
      },
      413,
      /at most 65536/,
    ],
    [
      'too many ops',
      { ops: Array.from({ length: MAX_BATCH_OPS + 1 }, (_, i) => ({ op: 'mkdir', path: `/many${i}` })) },
      413,
      /at most 1000 ops/,
    ],
  ];
  for (const [what, body, status, message] of bad) {
    const r = await alice.post('/v1/batch', body);
    t.equal(r.status, status, `${what}: ${status}`);
    checkError(t, r.body, status === 413 ? 'TOO_LARGE' : 'BAD_REQUEST');
    t.match(r.body.error.message, message, `${what}: ${r.body.error.message}`);
  }
  const notJson = await alice.call('POST', '/v1/batch', '{"ops": [', { 'content-type': 'application/json' });
  t.equal(notJson.status, 400);
  t.equal(await head(alice), before, 'nothing was applied');
  t.equal((await alice.get('/v1/node?path=/ok')).status, 404);
});

t.test('a wrong or missing token is 401 and changes nothing', async (t) => {
  const before = await head(alice);
  const wrong = await new Api(server.url, 'loft_' + 'A'.repeat(43)).post('/v1/batch', {
    ops: [{ op: 'mkdir', path: '/x401' }],
  });
  t.equal(wrong.status, 401);
  checkError(t, wrong.body, 'UNAUTHORIZED');
  t.equal((await new Api(server.url, null).post('/v1/batch', { ops: [] })).status, 401);
  t.equal(await head(alice), before);
});

t.test('a long-poll wakes once for a whole batch and sees all of it', async (t) => {
  const cursor = await head(alice);
  const poll = alice.get(`/v1/changes/wait?cursor=${cursor}&timeout=20`);
  await new Promise((r) => setTimeout(r, 200));
  const ops = [
    { op: 'mkdir', path: '/wake' },
    ...Array.from({ length: 50 }, (_, i) => ({
      op: 'commit',
      parentRef: 0,
      name: `f${i}`,
      parentRev: null,
      mtime: NOW,
      ...inline(`file ${i}`),
    })),
  ];
  const r = await alice.post('/v1/batch', { ops });
  t.equal(r.status, 200);
  const woke = await poll;
  t.equal(woke.status, 200);
  t.equal(woke.body.entries.length, 51, 'the first answer holds every change of the batch');
  t.same(
    woke.body.entries.map((e: { rev: number }) => e.rev),
    r.body.results.map((x: { rev: number }) => x.rev),
  );
});

t.test('RemoteClient.batch: inline buffers, results and errors per op', async (t) => {
  const client = new RemoteClient({ url: server.url, token: alice.token! });
  t.teardown(() => client.close());
  const data = Buffer.from('from the client');
  const out = await client.batch([
    { op: 'mkdir', path: '/rc' },
    { op: 'commit', parentRef: 0, name: 'f', parentRev: null, mtime: NOW, inline: data },
    { op: 'mkdir', path: '/rc' },
    { op: 'move', ref: 1, toPath: '/rc/g' },
  ]);
  t.match(out[0], { ok: true, rev: Number, node: { name: 'rc' } });
  t.match(out[1], { ok: true, node: { name: 'f', size: data.length, blocks: [{ hash: sha256hex(data) }] } });
  t.match(out[2], { ok: false, error: { code: 'EXISTS', details: { kind: 'dir' } } });
  t.match(out[3], { ok: true, node: { name: 'g' } });
  t.ok((await client.getBlock(sha256hex(data))).equals(data));
  await t.rejects(client.batch([{ op: 'teleport' } as never]), { code: 'BAD_REQUEST' });
});

t.test('in-process: one batch, one wake-up per namespace it changed', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'loft-batch-'));
  const meta = new SqliteMetadataStore({ filename: path.join(dir, 'meta.db') });
  const blocks = new FsBlockStore({ root: path.join(dir, 'blocks') });
  const notified: number[] = [];
  class CountingHub extends JournalHub {
    override notify(ns: number, seq: number): void {
      notified.push(ns);
      super.notify(ns, seq);
    }
  }
  const app = await buildApp({ meta, blocks, hub: new CountingHub(), clock: systemClock });
  t.teardown(async () => {
    await app.close();
    await blocks.close();
    await meta.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const u = await meta.createUser('carol', Date.now());
  await meta.addDevice(u.id, 'laptop', hashToken(TOKEN), null, Date.now());
  const post = (ops: unknown[]) =>
    app.inject({
      method: 'POST',
      url: '/v1/batch',
      headers: { authorization: `Bearer ${TOKEN}` },
      payload: { ops },
    });
  const many = Array.from({ length: 100 }, (_, i) => ({
    op: 'commit',
    path: `/d/f${i}`,
    parentRev: null,
    mtime: NOW,
    ...inline(`n${i}`),
  }));
  const r = await post(many);
  t.equal(r.statusCode, 200);
  t.equal(JSON.parse(r.body).results.length, 100);
  t.same(notified, [u.homeNs], '100 commits, one wake-up');
  notified.length = 0;
  await post([{ op: 'mkdir', path: '/d' }]);
  t.same(notified, [], 'a batch that changed nothing wakes nobody');
});

t.test(
  'on PostgreSQL (loft serve --meta): savepoints undo a failed op, the rest commits at once',
  async (t) => {
    const db = await testDatabase();
    process.env.PGPASSWORD = db.env.PGPASSWORD;
    const pgServer = new ServerProcess(undefined, ['--meta', db.url]);
    t.teardown(() => pgServer.dispose());
    await pgServer.start();
    const dana = new Api(pgServer.url, await pgServer.addUser('dana', ['--meta', db.url]));
    const cursor = await head(dana);
    const poll = dana.get(`/v1/changes/wait?cursor=${cursor}&timeout=20`);
    await new Promise((r) => setTimeout(r, 200));
    const r = await dana.post('/v1/batch', {
      ops: [
        { op: 'mkdir', path: '/pg' },
        { op: 'commit', parentRef: 0, name: 'a', parentRev: null, mtime: NOW, ...inline('on postgres') },
        // Fails after making /pg/new/deep on its way (the block was never sent): all of it undone.
        {
          op: 'commit',
          path: '/pg/new/deep/b',
          parentRev: null,
          mtime: NOW,
          blocks: [{ hash: sha256hex(Buffer.from('never sent')), size: 10 }],
          size: 10,
        },
        { op: 'mkdir', parentRef: 2, name: 'c' },
        { op: 'move', ref: 1, toPath: '/pg/b' },
      ],
    });
    t.equal(r.status, 200);
    const [mk, a, failed, dep, mv] = r.body.results;
    checkError(t, failed, 'BLOCK_UNUSABLE');
    checkError(t, dep, 'FAILED_DEPENDENCY');
    t.equal(dep.error.ref, 2);
    t.match(mv, { rev: a.rev + 1, node: { id: a.node.id, name: 'b' } });
    t.equal((await dana.get('/v1/node?path=/pg/new')).status, 404, 'the failed op left no folder');
    const woke = await poll;
    t.same(
      woke.body.entries.map((e: { rev: number }) => e.rev),
      [mk.rev, a.rev, mv.rev],
      'one answer with the whole batch, revisions without gaps',
    );
    t.ok((await dana.get(`/v1/blocks/${a.node.blocks[0].hash}`)).raw.equals(Buffer.from('on postgres')));
  },
);
