/**
 * Moving a shared folder inside one's own tree (issue 13 item 1): it moves for that user only.
 * Two users' real drives: the member moves the folder into a folder of his home (his mount record
 * changes; his other device's journal brings the root at its new place), the owner and the server's
 * folder see no change, changes still follow both ways; then the owner moves hers and the member
 * sees no change. The API's errors for such moves.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import {
  cliAs,
  Devices,
  serverFile,
  serverNames,
  settled,
  waitFor,
  type Device,
} from '../helpers/devices.js';
import { ServerProcess } from '../helpers/server-process.js';

const server = new ServerProcess();
const devices = new Devices(server);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'loft-share-placement-'));
t.before(async () => {
  await server.start();
});
t.teardown(async () => {
  await devices.dispose();
  await server.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

const cliOf = (dev: Device) => cliAs(server, tmp, dev);

const read = (p: string) => readFile(p, 'utf8').catch(() => null);

t.test('a shared folder moved in one user tree moves for that user only', async (t) => {
  const owner = await devices.newUser('gus');
  const member = await devices.newUser('hal');
  const phone = await devices.otherDevice(member, 'hal-phone');
  t.equal((await owner.api.writeFile('/proj/plan.txt', [Buffer.from('plan\n')])).status, 200);
  const share = await cliOf(owner)(['share', '/proj', '--with', 'hal']);
  t.equal(share.code, 0, share.stderr);
  const mg = devices.mount(t, owner);
  const mh = devices.mount(t, member);
  await mg.start();
  await mh.start();
  t.equal(await waitFor('the folder on hal', () => read(mh.p('proj/plan.txt'))), 'plan\n');
  // hal's phone follows his journal (caught up before the move).
  let cursor: string | undefined;
  for (let more = true; more;) {
    const page = (await phone.api.get(`/v1/changes${cursor ? `?cursor=${cursor}` : ''}`)).body;
    cursor = page.cursor;
    more = page.hasMore;
  }
  const rootId = (await member.api.get('/v1/node?path=/proj')).body.id as number;

  // hal moves it into a folder of his home: his placement.
  await mkdir(mh.p('archive'));
  await rename(mh.p('proj'), mh.p('archive/old-proj'));
  t.equal(await read(mh.p('archive/old-proj/plan.txt')), 'plan\n', 'moved on his drive');
  const st = await settled(mh);
  t.same([st.stuck.length, st.pending], [0, 0], 'sent, nothing set aside');
  t.same(await serverNames(member.api), ['archive'], "hal's tree on the server");
  t.same(await serverNames(member.api, '/archive'), ['old-proj']);
  t.equal((await serverFile(member.api, '/archive/old-proj/plan.txt'))?.toString(), 'plan\n');
  const list = await cliOf(member)(['share', 'list', '--json']);
  t.match(JSON.parse(list.stdout).shares, [{ path: '/archive/old-proj', role: 'editor' }]);
  // gus: nothing changed, on the server and on his drive.
  t.same(await serverNames(owner.api), ['proj']);
  t.same(await serverNames(owner.api, '/proj'), ['plan.txt']);
  t.equal(await read(mg.p('proj/plan.txt')), 'plan\n');
  // hal's phone: the root at its new place, then nothing more.
  const page = (await phone.api.get(`/v1/changes?cursor=${cursor}`)).body;
  const archiveId = (await member.api.get('/v1/node?path=/archive')).body.id as number;
  t.match(
    page.entries.find((e: { id: number }) => e.id === rootId),
    { op: 'move', parentId: archiveId, name: 'old-proj', deleted: false, mount: { role: 'editor' } },
    "his other device's journal moves the root",
  );
  t.notOk(
    page.entries.some((e: { deleted: boolean }) => e.deleted),
    'no tombstone (the folder is not fetched again)',
  );
  const next = (await phone.api.get(`/v1/changes?cursor=${page.cursor}`)).body;
  t.same([next.entries.length, next.hasMore], [0, false], 'and it is followed from there');

  // Changes still follow both ways.
  await writeFile(mg.p('proj/from-gus.txt'), 'gus\n');
  t.equal(await waitFor('gus → hal', () => read(mh.p('archive/old-proj/from-gus.txt'))), 'gus\n');
  await writeFile(mh.p('archive/old-proj/from-hal.txt'), 'hal\n');
  t.equal(await waitFor('hal → gus', () => read(mg.p('proj/from-hal.txt'))), 'hal\n');

  // The owner moves hers: hal sees no change.
  await rename(mg.p('proj'), mg.p('renamed'));
  await settled(mg);
  t.same(await serverNames(owner.api), ['renamed'], "gus's tree on the server");
  t.same(await serverNames(member.api, '/archive'), ['old-proj'], "hal's is unchanged");
  await writeFile(mg.p('renamed/after.txt'), 'after\n');
  t.equal(await waitFor('gus → hal again', () => read(mh.p('archive/old-proj/after.txt'))), 'after\n');
  t.notOk(existsSync(mh.p('renamed')) || existsSync(mh.p('proj')), 'nothing else on hal');

  // The API: a taken name, and a shared folder moved into another namespace.
  t.equal((await member.api.writeFile('/taken.txt', [Buffer.from('x')])).status, 200);
  const taken = await member.api.post('/v1/move', {
    path: '/archive/old-proj',
    parentRev: 0,
    toPath: '/taken.txt',
  });
  t.equal(taken.body?.error?.code, 'EXISTS', 'a taken name');
  t.equal((await owner.api.writeFile('/other/x.txt', [Buffer.from('x')])).status, 200);
  t.equal((await cliOf(owner)(['share', '/other', '--with', 'hal'])).code, 0);
  const into = await member.api.post('/v1/move', {
    id: rootId,
    parentRev: 0,
    toPath: '/other/old-proj',
  });
  t.equal(into.body?.error?.code, 'CROSS_NAMESPACE', 'into another shared folder');
  t.equal(await waitFor('the second folder on hal', async () => existsSync(mh.p('other/x.txt'))), true);
  await t.rejects(rename(mh.p('archive/old-proj'), mh.p('other/old-proj')), { code: 'EXDEV' });
});
