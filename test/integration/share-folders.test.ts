/**
 * Shared folders through real processes (issue 13 item 1): `loft share` on the command line, the
 * routes' errors, the member's view of the API (paths through the mount, block reads), and two
 * users' real mounts following each other's changes live, history and restore by the member, and
 * the folder leaving the member's drive when the owner removes them.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { DOCUMENTED_CODES } from '../helpers/api.js';
import { cliAs, Devices, serverFile, settled, waitFor, type Device } from '../helpers/devices.js';
import { ServerProcess } from '../helpers/server-process.js';

const server = new ServerProcess();
const devices = new Devices(server);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'loft-folders-'));
t.before(async () => {
  await server.start();
});
t.teardown(async () => {
  await devices.dispose();
  await server.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

const cliOf = (dev: Device) => cliAs(server, tmp, dev);

t.test('loft share: the command line, its errors, and the member view of the API', async (t) => {
  const alice = await devices.newUser('ann');
  const bob = await devices.newUser('ben');
  await devices.newUser('cid');
  const ann = cliOf(alice);
  const ben = cliOf(bob);
  t.equal((await alice.api.writeFile('/docs/a.txt', [Buffer.from('from ann\n')])).status, 200);
  t.equal((await alice.api.writeFile('/docs/in/deep.txt', [Buffer.from('deep\n')])).status, 200);
  t.equal((await alice.api.writeFile('/home.txt', [Buffer.from('private\n')])).status, 200);
  t.equal((await bob.api.writeFile('/docs/mine.txt', [Buffer.from('ben own\n')])).status, 200);

  const bad = async (args: string[], re: RegExp, what: string) => {
    const r = await ann(args);
    t.not(r.code, 0, `${what}: fails`);
    t.match(r.stderr, re, `${what}: says why`);
    t.equal(r.stderr.trim().split('\n').length, 1, `${what}: one line`);
  };
  await bad(['share', '/docs', '--with', 'ann'], /yourself/, 'share with yourself');
  await bad(['share', '/docs', '--with', 'nobody'], /no user nobody/, 'unknown user');
  await bad(['share', '/docs', '--with', 'ben', '--role', 'admin'], /viewer or editor/, 'bad role');
  await bad(['share', '/home.txt', '--with', 'ben'], /only folders/, 'a file');
  await bad(['share', '/docs'], /--with/, 'no user');

  // The routes themselves: odd paths and names, strict bodies, one-line errors.
  for (const [body, code, what] of [
    [{ path: '/docs/../home.txt', with: 'ben' }, 'BAD_PATH', 'a .. component'],
    [{ path: 'docs', with: 'ben' }, 'BAD_PATH', 'a relative path'],
    [{ path: '/do\ncs', with: 'ben' }, 'NOT_FOUND', 'a newline in the path'],
    [{ path: '/docs', with: 'x'.repeat(65) }, 'BAD_REQUEST', 'a user name too long'],
    [{ path: '/docs', with: 'ben', role: 'owner' }, 'BAD_REQUEST', 'the owner role'],
    [{ path: '/docs', with: 'ben', extra: 1 }, 'BAD_REQUEST', 'an unknown field'],
  ] as const) {
    const r = await alice.api.post('/v1/shares', body);
    t.equal(r.body?.error?.code, code, `${what}: ${r.body?.error?.message}`);
    t.ok(DOCUMENTED_CODES.has(r.body?.error?.code), `${what}: documented code`);
    t.notOk(String(r.body?.error?.message).includes('\n'), `${what}: one line`);
  }
  t.equal(
    (await bob.api.post('/v1/shares/leave', { path: '/docs' })).body.error.code,
    'NOT_FOUND',
    'not shared',
  );

  // The home's last change is in the folder: its revision moves with it (see below).
  t.equal((await alice.api.writeFile('/docs/last.txt', [Buffer.from('last\n')])).status, 200);
  const ok = await ann(['share', '/docs', '--with', 'ben', '--role', 'editor']);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, /\/docs is shared with ben \(editor\); members: ann \(owner\), ben \(editor\)/);
  // The owner's view journal ends: the conversion moved the home's last revisions away, and a
  // cursor stuck below the home's head would say hasMore forever (a drive then polls in a loop).
  const annPage = (await alice.api.get('/v1/changes?limit=10000')).body;
  t.equal(annPage.hasMore, false, "the owner's journal is caught up");
  const annNext = (await alice.api.get(`/v1/changes?cursor=${annPage.cursor}`)).body;
  t.same([annNext.entries.length, annNext.hasMore], [0, false], 'and stays so');
  await bad(['share', '/docs/in', '--with', 'cid'], /inside the shared folder \/docs/, 'a share inside');
  const forbidden = await ben(['share', '/docs (2)', '--with', 'cid']);
  t.match(forbidden.stderr, /only the owner of \/docs \(2\) \(ann\)/, 'a member cannot share further');

  const list = await ben(['share', 'list']);
  t.equal(list.code, 0, list.stderr);
  t.match(
    list.stdout,
    /PATH\s+ROLE\s+OWNER\s+MEMBERS\n\/docs \(2\)\s+editor\s+ann\s+ann \(owner\), ben \(editor\)/,
  );
  const json = JSON.parse((await ann(['share', 'list', '/docs', '--json'])).stdout);
  t.match(json.shares, [{ path: '/docs', role: 'owner', owner: 'ann' }]);

  // ben's view: the folder under its de-duplicated name, beside his own /docs.
  const names = (await bob.api.get('/v1/list?path=/')).body.entries
    .map((e: { name: string }) => e.name)
    .sort();
  t.same(names, ['docs', 'docs (2)']);
  t.equal(
    (await serverFile(bob.api, '/docs (2)/a.txt'))?.toString(),
    'from ann\n',
    'ben reads it, blocks too',
  );
  t.equal((await serverFile(bob.api, '/docs (2)/in/deep.txt'))?.toString(), 'deep\n');
  t.equal((await bob.api.get('/v1/node?path=/home.txt')).status, 404, "not ann's home");
  const r = await bob.api.writeFile('/docs (2)/from-ben.txt', [Buffer.from('ben wrote\n')]);
  t.equal(r.status, 200, r.raw.toString());
  t.equal((await serverFile(alice.api, '/docs/from-ben.txt'))?.toString(), 'ben wrote\n', 'ann sees it');
  const mv = await bob.api.post('/v1/move', {
    path: '/docs (2)/from-ben.txt',
    parentRev: r.body.rev,
    toPath: '/docs/x.txt',
  });
  t.equal(mv.status, 409);
  t.equal(mv.body.error.code, 'CROSS_NAMESPACE', 'a move out of the shared folder');
  t.ok(DOCUMENTED_CODES.has(mv.body.error.code));

  // The journal ben's drive follows: his home, then the shared folder's snapshot, one cursor.
  const page = (await bob.api.get('/v1/changes')).body;
  const root = page.entries.find((e: { name: string }) => e.name === 'docs (2)');
  t.ok(root, 'the mount root is in the view');
  t.equal(root.parentId, (await bob.api.get('/v1/node?path=/')).body.id, 'projected into his root');
  t.match(page.cursor, /^v/);
  t.equal((await bob.api.get(`/v1/changes?cursor=${page.cursor}`)).body.entries.length, 0);
  const other = await devices.newUser('dan');
  t.equal((await other.api.get(`/v1/changes?cursor=${page.cursor}`)).status, 400, "not another's cursor");

  // Removed: the folder leaves ben's view, and its blocks are his no more.
  const hash = (await alice.api.get('/v1/node?path=/docs/a.txt')).body.blocks[0].hash;
  t.equal((await bob.api.get(`/v1/blocks/${hash}`)).status, 200);
  const rm = await ann(['share', 'remove', '/docs', '--with', 'ben']);
  t.equal(rm.code, 0, rm.stderr);
  t.match(rm.stdout, /ben removed from \/docs; members: ann \(owner\)/);
  t.not((await bob.api.get(`/v1/blocks/${hash}`)).status, 200, 'no block reads after removal');
  const after = (await bob.api.get(`/v1/changes?cursor=${page.cursor}`)).body;
  t.match(after.entries, [{ id: root.id, deleted: true }], 'a tombstone of the mount root');
  t.match(after.cursor, /^c/, 'back to a plain cursor');
  t.equal((await bob.api.get('/v1/node?path=/docs (2)/a.txt')).status, 404);
});

t.test(
  'two users, two real mounts: changes follow live both ways; history and restore; removal',
  async (t) => {
    const alice = await devices.newUser('amy');
    const bob = await devices.newUser('bill');
    const amy = cliOf(alice);
    const ma = devices.mount(t, alice);
    const mb = devices.mount(t, bob);
    await ma.start();
    await mb.start();
    await mkdir(ma.p('team'));
    await writeFile(ma.p('team/plan.txt'), 'v1\n');
    await settled(ma);

    const s = await amy(['share', ma.p('team'), '--with', 'bill', '--state', ma.state]);
    t.equal(s.code, 0, s.stderr);
    const seen = await waitFor('the shared folder on bill', async () =>
      readFile(mb.p('team/plan.txt'), 'utf8').catch(() => null),
    );
    t.equal(seen, 'v1\n', "bill's drive shows it");
    t.equal(await readFile(ma.p('team/plan.txt'), 'utf8'), 'v1\n', 'still at its place for amy');

    await writeFile(ma.p('team/plan.txt'), 'v2 by amy\n');
    await settled(ma);
    t.equal(
      await waitFor('amy → bill', async () => {
        const v = await readFile(mb.p('team/plan.txt'), 'utf8').catch(() => null);
        return v === 'v2 by amy\n' && v;
      }),
      'v2 by amy\n',
    );
    await writeFile(mb.p('team/notes.txt'), 'bill was here\n');
    await settled(mb);
    t.equal(
      await waitFor('bill → amy', async () => readFile(ma.p('team/notes.txt'), 'utf8').catch(() => null)),
      'bill was here\n',
    );

    // History and restore by the member, by a path inside his mount.
    const bill = cliOf(bob);
    const h = await bill(['history', mb.p('team/plan.txt'), '--json', '--state', mb.state]);
    t.equal(h.code, 0, h.stderr);
    const revs = JSON.parse(h.stdout).revisions as { rev: number }[];
    t.ok(revs.length >= 2, 'the history came with the folder');
    const res = await bill([
      'restore',
      mb.p('team/plan.txt'),
      '--rev',
      String(revs[0]!.rev),
      '--state',
      mb.state,
    ]);
    t.equal(res.code, 0, res.stderr);
    t.equal(
      await waitFor('the restore on both drives', async () => {
        const a = await readFile(ma.p('team/plan.txt'), 'utf8').catch(() => null);
        const b = await readFile(mb.p('team/plan.txt'), 'utf8').catch(() => null);
        return a === 'v1\n' && b === 'v1\n' && a;
      }),
      'v1\n',
    );

    // Removed: the folder leaves bill's drive; amy keeps it.
    const rm = await amy(['share', 'remove', ma.p('team'), '--with', 'bill', '--state', ma.state]);
    t.equal(rm.code, 0, rm.stderr);
    await waitFor('the folder gone from bill', async () => !existsSync(mb.p('team')));
    t.equal(await readFile(ma.p('team/notes.txt'), 'utf8'), 'bill was here\n');
  },
);

t.test(
  'a viewer: reads, but every change fails at once with EACCES; moves across the edge: EXDEV',
  async (t) => {
    const owner = await devices.newUser('olga');
    const viewer = await devices.newUser('vic');
    const olga = cliOf(owner);
    t.equal(
      (await owner.api.writeFile('/pub/read-me.txt', [Buffer.from('look, do not touch\n')])).status,
      200,
    );
    t.equal((await owner.api.writeFile('/own.txt', [Buffer.from('mine\n')])).status, 200);
    const s = await olga(['share', '/pub', '--with', 'vic', '--role', 'viewer']);
    t.equal(s.code, 0, s.stderr);
    const mo = devices.mount(t, owner);
    const mv = devices.mount(t, viewer);
    await mo.start();
    await mv.start();
    t.equal(
      await waitFor('the folder on vic', async () =>
        readFile(mv.p('pub/read-me.txt'), 'utf8').catch(() => null),
      ),
      'look, do not touch\n',
    );
    // The drive learns the roles from the server once the folder is in (a moment after it shows).
    const refused = async (what: string, op: () => Promise<unknown>, code: string) => {
      const err = await waitFor(`${what} refused`, async () => {
        try {
          await op();
          return null;
        } catch (e) {
          return (e as NodeJS.ErrnoException).code === code && (e as Error);
        }
      });
      t.ok(err, `${what}: ${code}`);
    };
    await refused('write into it', () => writeFile(mv.p('pub/new.txt'), 'no\n'), 'EACCES');
    await refused('change a file', () => writeFile(mv.p('pub/read-me.txt'), 'changed\n'), 'EACCES');
    await refused('mkdir', () => mkdir(mv.p('pub/dir')), 'EACCES');
    await refused('delete', () => unlink(mv.p('pub/read-me.txt')), 'EACCES');
    t.equal(await readFile(mv.p('pub/read-me.txt'), 'utf8'), 'look, do not touch\n', 'unchanged');
    const st = await settled(mv);
    t.equal(st.pending, 0, 'nothing queued that can never be sent');
    t.match(
      mv.stderr,
      /refused: \/pub\/[a-z.-]+: read-only \(you are a viewer of the shared folder \/pub\)/,
      'a clear log line',
    );
    // The owner: moves across the edge of the shared folder are EXDEV (mv then copies).
    await refused(
      'a move out of the shared folder',
      () => rename(mo.p('pub/read-me.txt'), mo.p('out.txt')),
      'EXDEV',
    );
    await refused('a move into it', () => rename(mo.p('own.txt'), mo.p('pub/own.txt')), 'EXDEV');
    await rename(mo.p('pub/read-me.txt'), mo.p('pub/renamed.txt'));
    await settled(mo);
    t.equal(
      await waitFor('the rename on vic', async () =>
        readFile(mv.p('pub/renamed.txt'), 'utf8').catch(() => null),
      ),
      'look, do not touch\n',
      'a rename inside it syncs',
    );
  },
);
