/** Every route of the HTTP API against a real `loft serve` process. */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import t from 'tap';
import { PIECE_SIZE, sha256hex } from '../../src/shared/hash.js';
import { Api } from '../helpers/api.js';
import { ServerProcess } from '../helpers/server-process.js';

const server = new ServerProcess();
t.teardown(() => server.dispose());
let alice: Api;
let alice2: Api;
let bob: Api;

t.before(async () => {
  await server.start();
  alice = new Api(server.url, await server.addUser('alice', ['--device', 'laptop']));
  alice2 = new Api(server.url, await server.addToken('alice', ['--device', 'phone']));
  bob = new Api(server.url, await server.addUser('bob'));
});

t.test('health needs no token; whoami names user, device and namespace', async (t) => {
  t.equal((await new Api(server.url, null).get('/v1/health')).status, 200);
  const me = await alice.get('/v1/whoami');
  t.equal(me.status, 200);
  t.match(me.body, { user: 'alice', device: 'laptop', ns: Number, rootId: Number });
  const me2 = await alice2.get('/v1/whoami');
  t.match(me2.body, { user: 'alice', device: 'phone', ns: me.body.ns });
  t.not((await bob.get('/v1/whoami')).body.ns, me.body.ns);
});

t.test('blocks: missing → put → get; puts are idempotent and deduplicated', async (t) => {
  const data = randomBytes(200_000);
  const hash = sha256hex(data);
  t.same((await alice.post('/v1/blocks/missing', { hashes: [hash] })).body, { missing: [hash] });
  const put = await alice.call('PUT', `/v1/blocks/${hash}`, data);
  t.equal(put.status, 201);
  t.match(put.body, { hash, size: data.length, created: true });
  t.equal((await alice.call('PUT', `/v1/blocks/${hash}`, data)).status, 200, 'second put: already there');
  t.same((await alice.post('/v1/blocks/missing', { hashes: [hash] })).body, { missing: [] });
  const got = await alice.get(`/v1/blocks/${hash}`);
  t.equal(got.status, 200);
  t.ok(got.raw.equals(data));
  t.equal(got.headers['content-type'], 'application/octet-stream');
  // Bob sends the same bytes: stored once, but Bob proves possession by sending them, and the answer
  // is the one he would get if nobody had them (it must not reveal that Alice stored them).
  const bobPut = await bob.call('PUT', `/v1/blocks/${hash}`, data);
  t.equal(bobPut.status, 201);
  t.equal(bobPut.body.created, true);
  t.ok((await bob.get(`/v1/blocks/${hash}`)).raw.equals(data));
});

t.test('blocks: a ranged GET answers 206 with the hashes of the pieces it covers', async (t) => {
  const data = randomBytes(3 * PIECE_SIZE + 500);
  const hash = sha256hex(data);
  t.equal((await alice.call('PUT', `/v1/blocks/${hash}`, data)).status, 201);
  const ranged = (range: string, who = alice) => who.call('GET', `/v1/blocks/${hash}`, undefined, { range });
  const one = await ranged(`bytes=${PIECE_SIZE}-${2 * PIECE_SIZE - 1}`);
  t.equal(one.status, 206);
  t.ok(one.raw.equals(data.subarray(PIECE_SIZE, 2 * PIECE_SIZE)));
  t.equal(one.headers['content-range'], `bytes ${PIECE_SIZE}-${2 * PIECE_SIZE - 1}/${data.length}`);
  t.equal(one.headers['loft-piece-hashes'], sha256hex(one.raw));
  const tail = await ranged(`bytes=${2 * PIECE_SIZE}-`);
  t.equal(tail.status, 206);
  t.ok(tail.raw.equals(data.subarray(2 * PIECE_SIZE)));
  t.equal(
    tail.headers['loft-piece-hashes'],
    [data.subarray(2 * PIECE_SIZE, 3 * PIECE_SIZE), data.subarray(3 * PIECE_SIZE)].map(sha256hex).join(','),
  );
  const odd = await ranged('bytes=10-19');
  t.equal(odd.status, 206);
  t.ok(odd.raw.equals(data.subarray(10, 20)));
  t.equal(odd.headers['loft-piece-hashes'], undefined, 'no piece hashes for an unaligned range');
  const past = await ranged(`bytes=${data.length}-`);
  t.equal(past.status, 416);
  t.equal(past.headers['content-range'], `bytes */${data.length}`);
  for (const ignored of ['bytes=-100', 'bytes=0-1,5-9', 'items=0-9', 'bytes=9-1']) {
    const whole = await ranged(ignored);
    t.equal(whole.status, 200, `${ignored}: the whole block`);
    t.ok(whole.raw.equals(data));
  }
  t.equal((await ranged('bytes=0-9', bob)).status, 404, 'a range is no way around possession');
});

t.test('tree: the whole live tree paged by node id, as current revisions', async (t) => {
  const u = new Api(alice.url, await server.addUser('treeuser'));
  for (const p of ['/t/a.txt', '/t/b.txt', '/t/sub/c.txt', '/gone.txt'])
    t.equal((await u.writeFile(p, [Buffer.from(p)])).status, 200);
  const gone = await u.get('/v1/node?path=/gone.txt');
  t.equal((await u.post('/v1/delete', { id: gone.body.id, parentRev: gone.body.rev })).status, 200);
  const seen: { id: number; name: string; deleted: boolean }[] = [];
  for (let after = 0, pages = 0; ; pages++) {
    const r = await u.get(`/v1/tree?after=${after}&limit=2`);
    t.equal(r.status, 200);
    t.ok(r.body.entries.length <= 2);
    seen.push(...r.body.entries);
    if (r.body.next === null) {
      t.equal(pages + 1, 3, '6 live nodes in pages of 2');
      break;
    }
    after = r.body.next;
  }
  t.same(
    seen.map((e) => e.name).sort(),
    ['', 'a.txt', 'b.txt', 'c.txt', 'sub', 't'],
    'every live node once, the root included; the deleted file not',
  );
  t.ok(
    seen.every((e, i) => i === 0 || e.id > seen[i - 1]!.id),
    'by id',
  );
  const a = seen.find((e) => e.name === 'a.txt')!;
  t.same(a, (await u.get(`/v1/node?id=${a.id}`)).body, 'as GET /v1/node answers');
  t.same((await u.get('/v1/tree')).body.entries.length, 6, 'default limit');
});

t.test('commit, update, conflict; history; node and list', async (t) => {
  const v1 = await alice.writeFile('/docs/report.txt', [Buffer.from('first version\n')]);
  t.equal(v1.status, 200);
  t.match(v1.body.node, { name: 'report.txt', size: 14, kind: 'file', op: 'create', device: 'laptop' });
  const id = v1.body.node.id;
  const v2 = await alice2.writeFile('/docs/report.txt', [Buffer.from('second version\n')], v1.body.rev);
  t.equal(v2.status, 200);
  t.equal(v2.body.node.id, id);
  t.equal(v2.body.node.device, 'phone');
  const stale = await alice.writeFile('/docs/report.txt', [Buffer.from('stale edit\n')], v1.body.rev);
  t.equal(stale.status, 409);
  t.match(stale.body.error, { code: 'CONFLICT', currentRev: v2.body.rev, id });
  const node = await alice.get('/v1/node?path=/docs/report.txt');
  t.match(node.body, { id, rev: v2.body.rev, size: 15 });
  t.same((await alice.get(`/v1/node?id=${id}`)).body, node.body);
  const list = await alice.get('/v1/list?path=/docs');
  t.same(
    list.body.entries.map((e: { name: string }) => e.name),
    ['report.txt'],
  );
  const hist = await alice.get('/v1/revisions?path=/docs/report.txt');
  t.same(
    hist.body.revisions.map((r: { rev: number; device: string }) => [r.rev, r.device]),
    [
      [v1.body.rev, 'laptop'],
      [v2.body.rev, 'phone'],
    ],
  );
  // The old content is still readable (it is referenced by a readable revision).
  const oldHash = hist.body.revisions[0].blocks[0].hash;
  t.equal((await alice2.get(`/v1/blocks/${oldHash}`)).raw.toString(), 'first version\n');
  // Commit by id with the right parent revision.
  const blocks = v2.body.node.blocks;
  const byId = await alice.post('/v1/commit', {
    id,
    parentRev: v2.body.rev,
    blocks,
    size: 15,
    mtime: 42,
    mode: 0o600,
  });
  t.equal(byId.status, 200);
  t.match(byId.body.node, { id, mtime: 42, mode: 0o600 });
  t.equal((await alice.get('/v1/node?path=/nope')).status, 404);
});

t.test('places by folder id: mkdir, commit and move inside a folder given by id', async (t) => {
  const dir = (await alice.post('/v1/mkdir', { path: '/byid' })).body.node;
  const mk = await alice.post('/v1/mkdir', { parentId: dir.id, name: 'sub' });
  t.equal(mk.status, 200);
  t.match(mk.body.node, { parentId: dir.id, name: 'sub', kind: 'dir' });
  const f = await alice.writeFile('/byid/f.txt', [randomBytes(100)]);
  const blocks = f.body.node.blocks;
  const created = await alice.post('/v1/commit', {
    parentId: mk.body.node.id,
    name: 'g.txt',
    parentRev: null,
    blocks,
    size: 100,
    mtime: 1,
  });
  t.equal(created.status, 200);
  t.match(created.body.node, { op: 'create', parentId: mk.body.node.id, name: 'g.txt' });
  const mv = await alice.post('/v1/move', {
    id: created.body.node.id,
    parentRev: created.body.rev,
    toParentId: dir.id,
    toName: 'h.txt',
  });
  t.equal(mv.status, 200);
  t.equal((await alice.get('/v1/node?path=/byid/h.txt')).body.id, created.body.node.id);
  // Exactly one way to say where: both, half of one, or an id where a place is wanted are 400.
  for (const body of [
    { path: '/byid/x', parentId: dir.id, name: 'x' },
    { parentId: dir.id },
    { name: 'x' },
    {},
  ]) {
    const r = await alice.post('/v1/mkdir', body);
    t.equal(r.status, 400, `mkdir ${JSON.stringify(body)}`);
    t.equal(r.body.error.code, 'BAD_REQUEST');
  }
  const both = await alice.post('/v1/commit', {
    id: f.body.node.id,
    parentId: dir.id,
    name: 'x',
    parentRev: null,
    blocks,
    size: 100,
    mtime: 1,
  });
  t.equal(both.status, 400);
  const halfMove = await alice.post('/v1/move', { id: f.body.node.id, parentRev: f.body.rev, toName: 'x' });
  t.equal(halfMove.status, 400);
  const badName = await alice.post('/v1/mkdir', { parentId: dir.id, name: '..' });
  t.equal(badName.status, 400);
  t.equal(badName.body.error.code, 'BAD_PATH');
});

t.test('mkdir, move, delete with parent-revision checks', async (t) => {
  const mk = await alice.post('/v1/mkdir', { path: '/photos', mode: 0o700 });
  t.equal(mk.status, 200);
  t.match(mk.body.node, { kind: 'dir', name: 'photos', mode: 0o700 });
  const again = await alice.post('/v1/mkdir', { path: '/photos' });
  t.equal(again.status, 409);
  t.match(again.body.error, { code: 'EXISTS', id: mk.body.node.id, kind: 'dir' });
  t.equal((await alice.post('/v1/mkdir', { path: '/a/b/c' })).status, 404);
  t.equal((await alice.post('/v1/mkdir', { path: '/a/b/c', parents: true })).status, 200);

  const f = await alice.writeFile('/photos/cat.jpg', [randomBytes(5000)]);
  const blocksBefore = f.body.node.blocks;
  const mv = await alice.post('/v1/move', {
    id: f.body.node.id,
    parentRev: f.body.rev,
    toPath: '/a/b/c/cat.jpg',
  });
  t.equal(mv.status, 200);
  t.match(mv.body.node, { id: f.body.node.id, op: 'move', name: 'cat.jpg' });
  t.same(mv.body.node.blocks, blocksBefore, 'move is metadata only');
  const staleMove = await alice.post('/v1/move', {
    id: f.body.node.id,
    parentRev: f.body.rev,
    toPath: '/x.jpg',
  });
  t.equal(staleMove.status, 409);
  t.equal(staleMove.body.error.currentRev, mv.body.rev);
  const cyc = await alice.post('/v1/move', {
    path: '/a',
    parentRev: (await alice.get('/v1/node?path=/a')).body.rev,
    toPath: '/a/b/c/a',
  });
  t.equal(cyc.status, 409);
  t.equal(cyc.body.error.code, 'CYCLE');

  const a = (await alice.get('/v1/node?path=/a')).body;
  const notEmpty = await alice.post('/v1/delete', { path: '/a', parentRev: a.rev });
  t.equal(notEmpty.status, 409);
  t.equal(notEmpty.body.error.code, 'NOT_EMPTY');
  const del = await alice.post('/v1/delete', { path: '/a', parentRev: a.rev, recursive: true });
  t.equal(del.status, 200);
  t.same(
    del.body.deleted.map((r: { name: string }) => r.name),
    ['cat.jpg', 'c', 'b', 'a'],
  );
  t.equal((await alice.get('/v1/node?path=/a')).status, 404);
  const tomb = await alice.get(`/v1/node?id=${f.body.node.id}`);
  t.match(tomb.body, { deleted: true, op: 'delete' });
  const hist = await alice.get(`/v1/revisions?id=${f.body.node.id}`);
  t.same(
    hist.body.revisions.map((r: { op: string }) => r.op),
    ['create', 'move', 'delete'],
  );
});

t.test('journal: paginated changes with opaque cursors; namespaces are separate', async (t) => {
  const all = [];
  let cursor = '';
  for (;;) {
    const page = await alice.get(`/v1/changes?limit=3&cursor=${cursor}`);
    t.equal(page.status, 200);
    all.push(...page.body.entries);
    cursor = page.body.cursor;
    if (!page.body.hasMore) break;
  }
  const head = all[all.length - 1].rev;
  t.same(
    all.map((e: { rev: number }) => e.rev),
    Array.from({ length: head }, (_, i) => i + 1),
    'every change exactly once, in order',
  );
  const tail = await alice.get(`/v1/changes?cursor=${cursor}`);
  t.same(tail.body.entries, []);
  t.equal(tail.body.cursor, cursor);
  const bobs = await bob.get('/v1/changes');
  t.same(bobs.body.entries, [], "bob's namespace has none of alice's changes");
});

t.test('long-poll returns promptly on a commit, and on timeout with nothing', async (t) => {
  const head = (await alice.get('/v1/changes?limit=10000')).body.cursor;
  const t0 = Date.now();
  const idle = await alice.get(`/v1/changes/wait?cursor=${head}&timeout=0.3`);
  t.ok(Date.now() - t0 >= 250, 'waited for the timeout');
  t.same(idle.body.entries, []);
  t.equal(idle.body.cursor, head);

  const poll = alice2.get(`/v1/changes/wait?cursor=${head}&timeout=20`);
  await new Promise((r) => setTimeout(r, 200));
  const committed = await alice.writeFile('/wake.txt', [Buffer.from('wake up')]);
  const afterCommit = Date.now();
  const res = await poll;
  const wake = Date.now() - afterCommit;
  t.equal(res.status, 200);
  t.same(
    res.body.entries.map((e: { rev: number }) => e.rev),
    [committed.body.rev],
  );
  t.ok(wake < 2000, `woke ${wake} ms after the commit answered (timeout was 20 s)`);

  // A poll with an old cursor answers at once.
  const t1 = Date.now();
  const immediate = await alice.get(`/v1/changes/wait?timeout=20`);
  t.ok(Date.now() - t1 < 2000);
  t.ok(immediate.body.entries.length > 0);

  // Bob's commits do not wake a poll on Alice's namespace.
  const head2 = res.body.cursor;
  const quiet = alice.get(`/v1/changes/wait?cursor=${head2}&timeout=0.5`);
  await bob.writeFile('/bob.txt', [Buffer.from('b')]);
  t.same((await quiet).body.entries, []);
});

t.test('data survives a server restart; SIGTERM ends pending long-polls cleanly', async (t) => {
  const before = (await alice.get('/v1/node?path=/docs/report.txt')).body;
  const head = (await alice.get('/v1/changes?limit=10000')).body.cursor;
  const poll = alice.get(`/v1/changes/wait?cursor=${head}&timeout=60`).catch((err: Error) => err);
  await new Promise((r) => setTimeout(r, 200));
  const t0 = Date.now();
  t.equal(await server.stop('SIGTERM'), 0, 'clean exit');
  t.ok(Date.now() - t0 < 10_000, 'shutdown does not wait for the long-poll timeout');
  const answered = await poll;
  if (!(answered instanceof Error)) t.equal(answered.status, 200);
  await server.start();
  const after = await alice.get('/v1/node?path=/docs/report.txt');
  t.same(after.body, before);
  const hash = before.blocks[0].hash;
  t.equal((await alice.get(`/v1/blocks/${hash}`)).status, 200);
});

t.test('SIGTERM does not wait for a stalled upload: its connection is cut after a short grace', async (t) => {
  const url = new URL(server.url);
  // A PUT whose body stops after a few bytes, from a client that keeps the connection open.
  const sock = net.connect(Number(url.port), url.hostname);
  await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
  const hash = 'a'.repeat(64);
  sock.write(
    `PUT /v1/blocks/${hash} HTTP/1.1\r\nhost: ${url.host}\r\nauthorization: Bearer ${alice.token}\r\n` +
      `content-type: application/octet-stream\r\ncontent-length: 100000\r\n\r\n` +
      'x'.repeat(100),
  );
  const cut = new Promise<void>((resolve) => sock.once('close', () => resolve()));
  sock.on('error', () => {});
  await new Promise((r) => setTimeout(r, 300));
  const t0 = Date.now();
  t.equal(await server.stop('SIGTERM'), 0, 'clean exit');
  const took = Date.now() - t0;
  t.ok(took < 10_000, `shutdown took ${took} ms, not the request timeout`);
  await cut;
  t.pass('the stalled connection was closed');
  await server.start();
  t.equal((await alice.get('/v1/node?path=/')).status, 200, 'serving again');
});
