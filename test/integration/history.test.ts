/**
 * Version history, restore, deleted listings, retention and block garbage collection against a real
 * `loft serve` process, and the `loft history` / `loft restore` / `loft gc` commands.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { sha256hex } from '../../src/shared/hash.js';
import { Api, DOCUMENTED_CODES, type ApiResponse } from '../helpers/api.js';
import { runLoft, ServerProcess } from '../helpers/server-process.js';

const server = new ServerProcess();
const tmp = mkdtempSync(path.join(os.tmpdir(), 'loft-history-'));
t.teardown(async () => {
  await server.dispose();
  rmSync(tmp, { recursive: true, force: true });
});
let alice: Api;
let alice2: Api;
let bob: Api;
let aliceToken: string;

t.before(async () => {
  await server.start();
  aliceToken = await server.addUser('alice', ['--device', 'laptop']);
  alice = new Api(server.url, aliceToken);
  alice2 = new Api(server.url, await server.addToken('alice', ['--device', 'phone']));
  bob = new Api(server.url, await server.addUser('bob', ['--device', 'bobs-pc']));
});

function isError(t: Test, r: ApiResponse, status: number, code: string, what: string) {
  t.equal(r.status, status, `${what}: status`);
  t.equal(r.body?.error?.code, code, `${what}: code (${r.body?.error?.message})`);
  t.ok(DOCUMENTED_CODES.has(r.body?.error?.code), `${what}: documented code`);
  t.notOk(String(r.body?.error?.message).includes('\n'), `${what}: one line`);
}

/** The file's content, read back block by block through the API. */
async function bytes(api: Api, node: { blocks?: { hash: string }[] }): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const b of node.blocks ?? []) {
    const r = await api.get(`/v1/blocks/${b.hash}`);
    if (r.status !== 200) throw new Error(`block ${b.hash}: ${r.status}`);
    parts.push(r.raw);
  }
  return Buffer.concat(parts);
}

async function content(api: Api, node: { blocks?: { hash: string }[] }): Promise<string> {
  return (await bytes(api, node)).toString();
}

function blockFile(hash: string): string {
  return path.join(server.dataDir, 'blocks', hash.slice(0, 2), hash.slice(2, 4), hash);
}

t.test('history lists every revision with its size and device', async (t) => {
  const v1 = await alice.writeFile('/docs/a.txt', [Buffer.from('one')]);
  const v2 = await alice2.writeFile('/docs/a.txt', [Buffer.from('second')], v1.body.rev);
  t.equal(v2.status, 200);
  const h = await alice.get('/v1/revisions?path=/docs/a.txt');
  t.same(
    h.body.revisions.map((r: { rev: number; size: number; device: string }) => [r.rev, r.size, r.device]),
    [
      [v1.body.rev, 3, 'laptop'],
      [v2.body.rev, 6, 'phone'],
    ],
  );
});

t.test('restore makes a new revision with the old content, seen through the journal', async (t) => {
  const hist = (await alice.get('/v1/revisions?path=/docs/a.txt')).body.revisions;
  const [v1, v2] = hist;
  const before = (await alice.get('/v1/changes')).body.cursor;
  // Another device follows the journal with a long-poll: the restore wakes it like any commit.
  const poll = alice2.get(`/v1/changes/wait?cursor=${before}&timeout=20`);
  await new Promise((r) => setTimeout(r, 200));
  const r = await alice.post('/v1/restore', { path: '/docs/a.txt', rev: v1.rev });
  t.equal(r.status, 200, JSON.stringify(r.body));
  t.match(r.body.node, { id: v1.id, op: 'commit', size: 3, restoredFrom: v1.rev, device: 'laptop' });
  t.ok(r.body.rev > v2.rev);
  t.same(r.body.created, []);
  t.equal(await content(alice, r.body.node), 'one', 'the old content, read back from the blocks');
  const woke = await poll;
  t.same(
    woke.body.entries.map((e: { rev: number; restoredFrom: number }) => [e.rev, e.restoredFrom]),
    [[r.body.rev, v1.rev]],
  );
  const node = await alice.get('/v1/node?path=/docs/a.txt');
  t.match(node.body, { rev: r.body.rev, size: 3 });
  // A stale parentRev is a conflict, like a commit's.
  const stale = await alice.post('/v1/restore', { id: v1.id, rev: v2.rev, parentRev: v2.rev });
  isError(t, stale, 409, 'CONFLICT', 'stale parentRev');
  t.equal(stale.body.error.currentRev, r.body.rev);
});

t.test('a deleted file is listed and comes back; a taken name is EXISTS; --to restores beside', async (t) => {
  const f = await alice.writeFile('/trash/sub/x.txt', [randomBytes(1000), Buffer.from('tail')]);
  const trash = (await alice.get('/v1/node?path=/trash')).body;
  const del = await alice2.post('/v1/delete', { path: '/trash', parentRev: trash.rev, recursive: true });
  t.equal(del.status, 200);
  const listed = await alice.get('/v1/deleted?path=/');
  t.equal(listed.status, 200);
  const entry = listed.body.entries.find((e: { path: string }) => e.path === '/trash/sub/x.txt');
  t.match(entry, { id: f.body.node.id, kind: 'file', size: 1004, lastRev: f.body.rev, device: 'phone' });
  t.same(
    listed.body.entries.map((e: { path: string }) => e.path),
    ['/trash', '/trash/sub', '/trash/sub/x.txt'],
  );
  t.equal(listed.body.truncated, false);
  // The history of a deleted node is still there.
  const hist = await alice.get(`/v1/revisions?id=${f.body.node.id}`);
  t.same(
    hist.body.revisions.map((r: { op: string }) => r.op),
    ['create', 'delete'],
  );
  const back = await alice.post('/v1/restore', { path: '/trash/sub/x.txt', rev: entry.lastRev });
  t.equal(back.status, 200, JSON.stringify(back.body));
  t.same(
    back.body.created.map((r: { name: string; op: string }) => [r.op, r.name]),
    [
      ['mkdir', 'trash'],
      ['mkdir', 'sub'],
    ],
  );
  t.match(back.body.node, { id: f.body.node.id, op: 'create', deleted: false, size: 1004 });
  t.equal((await alice.get('/v1/node?path=/trash/sub/x.txt')).body.id, f.body.node.id);
  t.equal((await bytes(alice2, back.body.node)).subarray(-4).toString(), 'tail');
  t.same((await alice.get('/v1/deleted?path=/trash')).body.entries, [], 'no longer deleted');

  // Deleted again, and a new file takes the name.
  await alice.post('/v1/delete', { id: f.body.node.id, parentRev: back.body.rev });
  const other = await alice.writeFile('/trash/sub/x.txt', [Buffer.from('other')]);
  const taken = await alice.post('/v1/restore', { path: '/trash/sub/x.txt', rev: entry.lastRev });
  isError(t, taken, 409, 'EXISTS', 'name taken');
  t.equal(taken.body.error.id, other.body.node.id);
  const beside = await alice.post('/v1/restore', {
    path: '/trash/sub/x.txt',
    rev: entry.lastRev,
    toPath: '/trash/sub/x (restored).txt',
  });
  t.equal(beside.status, 200);
  t.match(beside.body.node, { name: 'x (restored).txt', restoredFrom: entry.lastRev });
  t.equal((await bytes(alice, beside.body.node)).length, 1004);
});

t.test('bad input gets the documented errors and changes nothing', async (t) => {
  const f = (await alice.get('/v1/node?path=/docs/a.txt')).body;
  const other = await alice.writeFile('/docs/other.txt', [Buffer.from('o')]);
  const aliceNs = (await alice.get('/v1/whoami')).body.ns;
  const head = (await alice.get('/v1/changes?limit=1')).body;
  const cases: [unknown, number, string, string][] = [
    [{ id: f.id, rev: 999_999 }, 404, 'NOT_FOUND', 'unknown rev'],
    [{ id: f.id, rev: other.body.rev }, 404, 'NOT_FOUND', 'rev of another node'],
    [{ path: '/docs/a.txt', rev: other.body.rev }, 404, 'NOT_FOUND', 'rev of another path'],
    [{ path: '/docs/nope.txt', rev: f.rev }, 404, 'NOT_FOUND', 'path of no node'],
    [{ path: '/docs/../docs/a.txt', rev: f.rev }, 400, 'BAD_PATH', 'dot-dot'],
    [{ path: 'docs/a.txt', rev: f.rev }, 400, 'BAD_PATH', 'relative'],
    [{ path: '/docs/a.txt', rev: f.rev, toPath: '/x\u0000y' }, 400, 'BAD_PATH', 'NUL in toPath'],
    [{ path: '/docs/a.txt', rev: f.rev, toPath: '/docs//y' }, 400, 'BAD_PATH', 'empty component'],
    [{ path: '/docs/a.txt', rev: f.rev, toPath: '/' + 'n'.repeat(256) }, 400, 'BAD_PATH', 'long name'],
    [{ path: '/docs/a.txt', rev: f.rev, toPath: '/docs' }, 409, 'EXISTS', 'toPath taken'],
    [{ path: '/docs', rev: f.rev }, 404, 'NOT_FOUND', 'rev of a file given with its directory'],
    [{ path: '/docs/a.txt', id: f.id, rev: f.rev }, 400, 'BAD_REQUEST', 'both path and id'],
    [{ rev: f.rev }, 400, 'BAD_REQUEST', 'neither path nor id'],
    [{ id: f.id, rev: 0 }, 400, 'BAD_REQUEST', 'rev 0'],
    [{ id: f.id, rev: String(f.rev) }, 400, 'BAD_REQUEST', 'rev as a string'],
    [{ id: f.id, rev: f.rev, bogus: 1 }, 400, 'BAD_REQUEST', 'unknown field'],
  ];
  for (const [body, status, code, what] of cases)
    isError(t, await alice.post('/v1/restore', body), status, code, what);
  const dir = (await alice.get('/v1/node?path=/docs')).body;
  isError(t, await alice.post('/v1/restore', { id: dir.id, rev: dir.rev }), 409, 'IS_DIR', 'a directory');
  // Other users and tokens.
  isError(
    t,
    await bob.post('/v1/restore', { ns: aliceNs, id: f.id, rev: f.rev }),
    403,
    'FORBIDDEN',
    'bob in ns',
  );
  isError(t, await bob.post('/v1/restore', { id: f.id, rev: f.rev }), 404, 'NOT_FOUND', 'bob by id');
  isError(t, await bob.get(`/v1/deleted?ns=${aliceNs}&path=/`), 403, 'FORBIDDEN', 'bob lists alice');
  const anon = new Api(server.url, null);
  isError(t, await anon.post('/v1/restore', { id: f.id, rev: f.rev }), 401, 'UNAUTHORIZED', 'no token');
  const forged = new Api(server.url, 'loft_' + 'A'.repeat(43));
  isError(t, await forged.get('/v1/deleted?path=/'), 401, 'UNAUTHORIZED', 'unknown token');
  // The deleted listing.
  isError(t, await alice.get('/v1/deleted?path=/docs/a.txt'), 409, 'NOT_DIR', 'listing a file');
  isError(t, await alice.get('/v1/deleted?path=/gone'), 404, 'NOT_FOUND', 'listing nothing');
  isError(t, await alice.get('/v1/deleted?path=/a/../b'), 400, 'BAD_PATH', 'listing dot-dot');
  isError(t, await alice.get('/v1/deleted?path=/&limit=0'), 400, 'BAD_REQUEST', 'limit 0');
  isError(t, await alice.get('/v1/deleted?path=/&limit=x'), 400, 'BAD_REQUEST', 'limit x');
  isError(t, await alice.get('/v1/deleted?path=/&id=1'), 400, 'BAD_REQUEST', 'path and id');
  isError(t, await alice.get('/v1/deleted?path=/&x=1'), 400, 'BAD_REQUEST', 'unknown parameter');
  const after = (await alice.get('/v1/changes?limit=1')).body;
  t.equal(after.hasMore, head.hasMore);
  t.equal(
    (await alice.get(`/v1/changes?cursor=${(await alice.get('/v1/changes?limit=10000')).body.cursor}`)).body
      .entries.length,
    0,
  );
  t.equal((await alice.get('/v1/node?path=/docs/a.txt')).body.rev, f.rev, 'nothing changed');
});

t.test('loft history / history --deleted / restore on the command line', async (t) => {
  const env = { LOFT_SERVER: server.url, LOFT_TOKEN: aliceToken, LOFT_STATE: '' };
  const h = await runLoft(['history', '/docs/a.txt'], { env });
  t.equal(h.code, 0, h.stderr);
  t.match(h.stdout, /^\/docs\/a\.txt\n/);
  t.match(h.stdout, /REV\s+TIME\s+SIZE\s+DEVICE\s+CHANGE/);
  t.match(h.stdout, /laptop/);
  t.match(h.stdout, /phone/);
  t.match(h.stdout, /restored from rev \d+ \(current\)/);
  const hj = await runLoft(['history', '/docs/a.txt', '--json'], { env });
  const parsed = JSON.parse(hj.stdout);
  t.equal(parsed.path, '/docs/a.txt');
  t.same(
    parsed.revisions.map((r: { size: number; device: string }) => [r.size, r.device]),
    [
      [3, 'laptop'],
      [6, 'phone'],
      [3, 'laptop'],
    ],
  );
  const second = parsed.revisions[1].rev;

  // Through a drive's state directory: server and token from config.json, and a path inside the
  // mountpoint of its mount record mapped to the cloud path.
  const state = path.join(tmp, 'state');
  mkdirSync(state, { recursive: true });
  writeFileSync(path.join(state, 'config.json'), JSON.stringify({ server: server.url, token: aliceToken }));
  const mnt = path.join(tmp, 'Loft');
  writeFileSync(
    path.join(state, 'mount.json'),
    JSON.stringify({ pid: process.pid, mountpoint: mnt, socket: path.join(state, 'control.sock'), state }),
  );
  const viaState = await runLoft(
    ['restore', path.join(mnt, 'docs/a.txt'), '--rev', String(second), '--state', state],
    {
      env: { LOFT_SERVER: '', LOFT_TOKEN: '' },
    },
  );
  t.equal(viaState.code, 0, viaState.stderr);
  t.match(
    viaState.stdout,
    new RegExp(`restored /docs/a\\.txt to the content of rev ${second}: now rev \\d+`),
  );
  const node = (await alice.get('/v1/node?path=/docs/a.txt')).body;
  t.equal(await content(alice, node), 'second');
  t.equal(node.restoredFrom, second);

  // A deleted file: history finds it, --deleted lists it, restore brings it back.
  const gone = await alice.writeFile('/cli/gone.txt', [Buffer.from('bring me back')]);
  await alice.post('/v1/delete', { id: gone.body.node.id, parentRev: gone.body.rev });
  const dh = await runLoft(['history', '/cli/gone.txt', '--json'], { env });
  t.equal(dh.code, 0, dh.stderr);
  t.match(JSON.parse(dh.stdout), { id: gone.body.node.id, deleted: true });
  const dl = await runLoft(['history', '--deleted', '/cli'], { env });
  t.equal(dl.code, 0, dl.stderr);
  t.match(dl.stdout, /DELETED\s+SIZE\s+LAST REV\s+BY\s+PATH/);
  t.match(dl.stdout, new RegExp(`13 B\\s+${gone.body.rev}\\s+laptop\\s+/cli/gone\\.txt`));
  const dlj = JSON.parse((await runLoft(['history', '--deleted', '/cli', '--json'], { env })).stdout);
  t.match(dlj.entries, [{ path: '/cli/gone.txt', lastRev: gone.body.rev }]);
  const rr = await runLoft(['restore', '/cli/gone.txt', '--rev', String(gone.body.rev)], { env });
  t.equal(rr.code, 0, rr.stderr);
  t.equal((await alice.get('/v1/node?path=/cli/gone.txt')).body.id, gone.body.node.id);

  // Errors: one line, non-zero exit.
  const oneLine = (r: { code: number; stderr: string }, re: RegExp, what: string) => {
    t.not(r.code, 0, `${what}: exit`);
    t.equal(r.stderr.trimEnd().split('\n').length, 1, `${what}: one line: ${r.stderr}`);
    t.match(r.stderr, /^loft: /, what);
    t.match(r.stderr, re, what);
  };
  oneLine(await runLoft(['history', '/cli/never.txt'], { env }), /no such file/, 'history of nothing');
  oneLine(await runLoft(['restore', '/cli/gone.txt', '--rev', 'x'], { env }), /--rev wants/, 'bad rev');
  oneLine(await runLoft(['restore', '/cli/gone.txt'], { env }), /--rev/, 'missing rev');
  oneLine(
    await runLoft(['restore', '/cli/gone.txt', '--rev', '999999'], { env }),
    /not a kept revision/,
    'unknown rev',
  );
  oneLine(await runLoft(['history', 'relative.txt'], { env }), /cloud path/, 'relative path');
  oneLine(
    await runLoft(['history', '/docs/a.txt'], { env: { LOFT_SERVER: '', LOFT_TOKEN: '', LOFT_STATE: '' } }),
    /which server/,
    'no credentials',
  );
  oneLine(
    await runLoft(['history', '/docs/a.txt'], { env: { ...env, LOFT_TOKEN: 'loft_' + 'B'.repeat(43) } }),
    /token/,
    'bad token',
  );
  oneLine(
    await runLoft(['history', '/docs/a.txt'], { env: { ...env, LOFT_SERVER: 'http://127.0.0.1:1' } }),
    /cannot reach/,
    'server down',
  );
  await alice.post('/v1/delete', {
    path: '/cli/gone.txt',
    parentRev: (await alice.get('/v1/node?path=/cli/gone.txt')).body.rev,
  });
  await alice.writeFile('/cli/gone.txt', [Buffer.from('squatter')]);
  oneLine(
    await runLoft(['restore', '/cli/gone.txt', '--rev', String(gone.body.rev)], { env }),
    /taken.*--to PATH/,
    'name taken',
  );
  const to = await runLoft(
    ['restore', '/cli/gone.txt', '--rev', String(gone.body.rev), '--to', '/cli/old.txt'],
    {
      env,
    },
  );
  t.equal(to.code, 0, to.stderr);
  t.equal(await content(alice, (await alice.get('/v1/node?path=/cli/old.txt')).body), 'bring me back');
  // A deleted folder, without --rev: it comes back with everything deleted with it.
  const fa = await alice.writeFile('/cli/folder/a.txt', [Buffer.from('in a folder')]);
  await alice.writeFile('/cli/folder/sub/b.txt', [Buffer.from('deeper')]);
  const folder = (await alice.get('/v1/node?path=/cli/folder')).body;
  await alice.post('/v1/delete', { id: folder.id, parentRev: folder.rev, recursive: true });
  const fr = await runLoft(['restore', '/cli/folder'], { env });
  t.equal(fr.code, 0, fr.stderr);
  t.match(
    fr.stdout,
    /^restored folder \/cli\/folder with 2 file\(s\) and 1 folder\(s\) deleted with it: now rev \d+/,
  );
  t.equal((await alice.get('/v1/node?path=/cli/folder')).body.id, folder.id, 'the same folder');
  const back = (await alice.get('/v1/node?path=/cli/folder/a.txt')).body;
  t.equal(back.id, fa.body.node.id);
  t.equal(await content(alice, back), 'in a folder');
  t.equal(await content(alice, (await alice.get('/v1/node?path=/cli/folder/sub/b.txt')).body), 'deeper');
  oneLine(await runLoft(['restore', '/cli/folder'], { env }), /not deleted; give --rev/, 'a live folder');
  for (const args of [['history'], ['restore'], ['gc']]) {
    const r = await runLoft([...args, '--help']);
    t.equal(r.code, 0);
    t.match(r.stdout, /Usage: loft/);
  }
  const serveHelp = (await runLoft(['serve', '--help'])).stdout;
  for (const option of ['--keep-days', '--gc-interval', '--gc-grace']) t.match(serveHelp, option);
});

t.test('garbage collection deletes unreferenced blocks but not an upload awaiting its commit', async (t) => {
  // The pending block must still be inside the grace when `loft gc` (a new process) starts, and the
  // old one past it: a grace that a process start under load cannot exceed (2 s did, on a loaded
  // machine: the pending block was collected).
  const GRACE_S = 10;
  const oldData = randomBytes(50_000);
  const v1 = await alice.writeFile('/gc.bin', [oldData]);
  const v2 = await alice.writeFile('/gc.bin', [randomBytes(40_000)], v1.body.rev);
  t.equal(v2.status, 200);
  const oldHash = sha256hex(oldData);
  const currentHash = v2.body.node.blocks[0].hash;
  t.ok(existsSync(blockFile(oldHash)));
  await new Promise((r) => setTimeout(r, GRACE_S * 1000 + 300));
  // Uploaded just now, commit not sent yet.
  const pendingData = randomBytes(30_000);
  const pending = await alice.putBlock(pendingData);
  t.equal(pending.status, 201);

  const gc = await runLoft([
    'gc',
    '--data',
    server.dataDir,
    '--keep-days',
    '0',
    '--gc-grace',
    `${GRACE_S}s`,
    '--json',
  ]);
  t.equal(gc.code, 0, gc.stderr);
  const report = JSON.parse(gc.stdout);
  t.ok(report.purgedRevisions >= 1, `purged ${report.purgedRevisions} revisions`);
  t.ok(report.deletedBlocks >= 1, `deleted ${report.deletedBlocks} blocks`);

  // The old revision and its block are gone; the current one stays.
  t.notOk(existsSync(blockFile(oldHash)), 'block file deleted');
  isError(t, await alice.get(`/v1/blocks/${oldHash}`), 404, 'NOT_FOUND', 'GET of a collected block');
  t.same((await alice.post('/v1/blocks/missing', { hashes: [oldHash] })).body.missing, [oldHash]);
  const hist = await alice.get('/v1/revisions?path=/gc.bin');
  t.same(
    hist.body.revisions.map((r: { rev: number }) => r.rev),
    [v2.body.rev],
    'only the current revision is kept',
  );
  t.ok(existsSync(blockFile(currentHash)));
  isError(
    t,
    await alice.post('/v1/restore', { path: '/gc.bin', rev: v1.body.rev }),
    404,
    'NOT_FOUND',
    'restore of a purged revision',
  );
  // A commit that references the collected block is refused; sending it again makes it work.
  const stale = await alice.post('/v1/commit', {
    path: '/gc-again.bin',
    parentRev: null,
    blocks: [{ hash: oldHash, size: oldData.length }],
    size: oldData.length,
    mtime: 1,
  });
  isError(t, stale, 400, 'BLOCK_UNUSABLE', 'commit of a collected block');
  t.equal((await alice.putBlock(oldData)).status, 201, 'sent again');
  // The server syncs new blocks in groups (docs/PROTOCOL.md, Durability): the block reaches its
  // final path with its group, and at the latest before a commit that references it.
  const again = await alice.post('/v1/commit', {
    path: '/gc-again.bin',
    parentRev: null,
    blocks: [{ hash: oldHash, size: oldData.length }],
    size: oldData.length,
    mtime: 1,
  });
  t.equal(again.status, 200, JSON.stringify(again.body));
  t.ok(existsSync(blockFile(oldHash)), 'stored again, durable before the commit that references it');

  // The block uploaded before the run survived it, and its commit now succeeds (the commit makes
  // it durable first, so its file is in place after, whenever its group was synced).
  const commit = await alice.post('/v1/commit', {
    path: '/late.bin',
    parentRev: null,
    blocks: [{ hash: pending.hash, size: pending.size }],
    size: pending.size,
    mtime: 1,
  });
  t.equal(commit.status, 200, JSON.stringify(commit.body));
  t.ok(existsSync(blockFile(pending.hash)), 'upload in flight kept');
  t.ok((await alice2.get(`/v1/blocks/${pending.hash}`)).raw.equals(pendingData), 'content reads back');
});

t.test('loft serve collects garbage by itself every --gc-interval', async (t) => {
  const gcServer = new ServerProcess(undefined, [
    '--keep-days',
    '0',
    '--gc-grace',
    '1s',
    '--gc-interval',
    '1s',
  ]);
  t.teardown(() => gcServer.dispose());
  await gcServer.start();
  const carol = new Api(gcServer.url, await gcServer.addUser('carol'));
  const file = (hash: string) =>
    path.join(gcServer.dataDir, 'blocks', hash.slice(0, 2), hash.slice(2, 4), hash);
  const oldData = randomBytes(20_000);
  const v1 = await carol.writeFile('/periodic.bin', [oldData]);
  const v2 = await carol.writeFile('/periodic.bin', [randomBytes(10_000)], v1.body.rev);
  const current = v2.body.node.blocks[0].hash;
  t.ok(existsSync(file(sha256hex(oldData))));
  const deadline = Date.now() + 20_000;
  while (existsSync(file(sha256hex(oldData))) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 200));
  t.notOk(existsSync(file(sha256hex(oldData))), 'the superseded block went without a loft gc');
  t.ok(existsSync(file(current)), 'the current block stays');
  t.same(
    (await carol.get('/v1/revisions?path=/periodic.bin')).body.revisions.map((r: { rev: number }) => r.rev),
    [v2.body.rev],
    'history beyond --keep-days 0 was purged',
  );
  t.equal((await carol.get(`/v1/blocks/${current}`)).status, 200);
});
