/**
 * Shared folders, what a member keeps when the folder leaves their tree (issue 13 item 1):
 * changes made on the member's drive that the server has not got (the drive cut off by a fault
 * proxy) when the owner removes them are not lost: they come back as a conflicted copy in the
 * member's home, named after the user and the device, with a log line and `loft status` saying
 * where, and reach the server once the drive is back. The owner's folder is untouched.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import {
  cliAs,
  Devices,
  serverFile,
  serverNames,
  settled,
  status,
  waitFor,
  type Device,
} from '../helpers/devices.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { runLoft, ServerProcess } from '../helpers/server-process.js';

const server = new ServerProcess();
const devices = new Devices(server);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'loft-share-removal-'));
let proxy: FaultProxy;
t.before(async () => {
  await server.start();
  proxy = new FaultProxy(Number(new URL(server.url).port));
  await proxy.start();
});
t.teardown(async () => {
  await devices.dispose();
  await proxy.close();
  await server.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

const cliOf = (dev: Device) => cliAs(server, tmp, dev);

const COPY = /^team \(conflicted copy from bea on bea-laptop \d{4}-\d\d-\d\d \d{6}\)$/;

t.test('removed with changes the server has not got: kept as a conflicted copy in the home', async (t) => {
  const owner = await devices.newUser('abe');
  const member = await devices.newUser('bea');
  const abe = cliOf(owner);
  t.equal((await owner.api.writeFile('/team/plan.txt', [Buffer.from('v1 by abe\n')])).status, 200);
  t.equal((await owner.api.writeFile('/team/sub/old.txt', [Buffer.from('untouched\n')])).status, 200);
  t.equal((await abe(['share', '/team', '--with', 'bea'])).code, 0);
  const mb = devices.mount(t, member, proxy.url);
  await mb.start();
  t.equal(
    await waitFor('the shared folder on bea', async () =>
      readFile(mb.p('team/plan.txt'), 'utf8').catch(() => null),
    ),
    'v1 by abe\n',
  );
  await readFile(mb.p('team/sub/old.txt'), 'utf8'); // cached here, not changed

  // Cut off: bea's changes stay on her drive; meanwhile abe takes her out of the folder.
  proxy.offline();
  await writeFile(mb.p('team/plan.txt'), 'edited by bea offline\n');
  await writeFile(mb.p('team/sub/new.txt'), 'made by bea offline\n');
  t.ok((await status(mb)).pending >= 2, 'queued on her drive');
  const rm = await abe(['share', 'remove', '/team', '--with', 'bea']);
  t.equal(rm.code, 0, rm.stderr);

  proxy.online();
  const copy = await waitFor('the conflicted copy on bea', async () => {
    const names = readdirSync(mb.mountpoint);
    return !names.includes('team') && names.find((n) => COPY.test(n));
  });
  t.pass(`kept as ${copy}`);
  t.equal(await readFile(mb.p(`${copy}/plan.txt`), 'utf8'), 'edited by bea offline\n');
  t.equal(await readFile(mb.p(`${copy}/sub/new.txt`), 'utf8'), 'made by bea offline\n');
  t.notOk(existsSync(mb.p(`${copy}/sub/old.txt`)), "the server's unchanged files stay in the folder");
  const st = await settled(mb);
  t.equal(st.stuck.length, 0, 'nothing set aside');
  t.ok(st.conflicts.includes(`/${copy}`), '`loft status` says where');
  t.match(
    mb.stderr,
    new RegExp(`shared folder /team left this drive; .* kept in /${copy.replace(/[()]/g, '\\$&')}`),
    'a log line says where',
  );

  // On the server: in bea's home, not in abe's folder.
  t.equal((await serverFile(member.api, `/${copy}/plan.txt`))?.toString(), 'edited by bea offline\n');
  t.equal((await serverFile(member.api, `/${copy}/sub/new.txt`))?.toString(), 'made by bea offline\n');
  t.same(await serverNames(member.api), [copy]);
  t.equal((await serverFile(owner.api, '/team/plan.txt'))?.toString(), 'v1 by abe\n', "abe's is unchanged");
  t.same(await serverNames(owner.api, '/team/sub'), ['old.txt']);
});

t.test('leaving with no local change: the folder just goes', async (t) => {
  const owner = await devices.newUser('cal');
  const member = await devices.newUser('dee');
  t.equal((await owner.api.writeFile('/box/a.txt', [Buffer.from('a\n')])).status, 200);
  t.equal((await cliOf(owner)(['share', '/box', '--with', 'dee'])).code, 0);
  const md = devices.mount(t, member);
  await md.start();
  await waitFor('the folder on dee', async () => existsSync(md.p('box/a.txt')));
  const left = await cliOf(member)(['share', 'leave', md.p('box'), '--state', md.state]);
  t.equal(left.code, 0, left.stderr);
  await waitFor('the folder gone', async () => readdirSync(md.mountpoint).length === 0);
  t.same((await settled(md)).conflicts, [], 'no copy');
});

t.test('conflicted copies across users name the user and the device; in the home, the device', async (t) => {
  const owner = await devices.newUser('eve');
  const member = await devices.newUser('fay');
  const phone = await devices.otherDevice(member, 'fay-phone');
  t.equal((await owner.api.writeFile('/shared/report.txt', [Buffer.from('base\n')])).status, 200);
  t.equal((await member.api.writeFile('/notes.txt', [Buffer.from('base\n')])).status, 200);
  t.equal((await cliOf(owner)(['share', '/shared', '--with', 'fay'])).code, 0);
  const mf = devices.mount(t, member, proxy.url);
  await mf.start();
  await waitFor(
    'the shared file on fay',
    async () => (await readFile(mf.p('shared/report.txt'), 'utf8').catch(() => null)) === 'base\n',
  );
  t.equal(await readFile(mf.p('notes.txt'), 'utf8'), 'base\n');

  // fay's laptop edits both offline; eve (another user) and fay's phone (another device of
  // hers) commit their own versions meanwhile: the same line, so no merge.
  proxy.offline();
  await writeFile(mf.p('shared/report.txt'), 'fay on her laptop\n');
  await writeFile(mf.p('notes.txt'), 'fay on her laptop\n');
  const commitOver = async (dev: Device, p: string, text: string) => {
    const rev = (await dev.api.get(`/v1/node?path=${encodeURIComponent(p)}`)).body.rev as number;
    t.equal((await dev.api.writeFile(p, [Buffer.from(text)], rev)).status, 200, `${dev.device} commits ${p}`);
  };
  await commitOver(owner, '/shared/report.txt', 'eve wins\n');
  await commitOver(phone, '/notes.txt', 'the phone wins\n');
  proxy.online();

  const st = await waitFor('two conflicted copies', async () => {
    const s = await settled(mf);
    return s.conflicts.length === 2 && s;
  });
  const shared = st.conflicts.find((c) => c.startsWith('/shared/'));
  const home = st.conflicts.find((c) => !c.startsWith('/shared/'));
  t.match(
    shared,
    /^\/shared\/report \(conflicted copy from fay on fay-laptop \d{4}-\d\d-\d\d \d{6}\)\.txt$/,
    'in the shared folder: the user and the device',
  );
  t.match(
    home,
    /^\/notes \(conflicted copy from fay-laptop \d{4}-\d\d-\d\d \d{6}\)\.txt$/,
    'in the home (one user): the device, as before',
  );
  t.equal(await readFile(mf.p(shared!.slice(1)), 'utf8'), 'fay on her laptop\n');
  t.equal(await readFile(mf.p(home!.slice(1)), 'utf8'), 'fay on her laptop\n');
  t.equal(
    await waitFor('the winners on fay', async () => {
      const v = await readFile(mf.p('shared/report.txt'), 'utf8').catch(() => null);
      return v === 'eve wins\n' && v;
    }),
    'eve wins\n',
  );
  // eve sees fay's copy in her folder, named after fay.
  t.equal(
    (await serverFile(owner.api, shared!))?.toString(),
    'fay on her laptop\n',
    "the copy is in eve's folder too",
  );
});

t.test("a membership change wakes the member's long-polls: the folder comes and goes at once", async (t) => {
  const owner = await devices.newUser('ivy');
  const member = await devices.newUser('jon');
  const tablet = await devices.otherDevice(member, 'jon-tablet');
  t.equal((await owner.api.writeFile('/club/rules.txt', [Buffer.from('rules\n')])).status, 200);
  const mj = devices.mount(t, member);
  await mj.start();
  await settled(mj);
  // jon's tablet long-polls at the head of his journal for 60 s: an answer before that was woken.
  const POLL_S = 60;
  const since = async (cursor: string) => {
    const start = Date.now();
    const r = await tablet.api.get(`/v1/changes/wait?cursor=${cursor}&timeout=${POLL_S}`);
    t.equal(r.status, 200, r.raw.toString());
    t.ok(Date.now() - start < (POLL_S - 10) * 1000, 'answered long before its timeout: woken');
    return r.body as { entries: { id: number; name: string; deleted: boolean }[]; cursor: string };
  };
  const head = (await tablet.api.get('/v1/changes')).body.cursor as string;

  // Joining: the tablet's poll (a plain cursor: jon had no shared folder) answers with the folder.
  const joined = since(head);
  const share = await cliOf(owner)(['share', '/club', '--with', 'jon']);
  t.equal(share.code, 0, share.stderr);
  let at = Date.now();
  const page = await joined;
  const root = page.entries.find((e) => e.name === 'club');
  t.ok(root && page.entries.some((e) => e.name === 'rules.txt'), "the folder's snapshot in the answer");
  await waitFor('the folder on the drive', async () => existsSync(mj.p('club/rules.txt')), 5_000, 10);
  const appeared = Date.now() - at;

  // Leaving from the drive's side: the tablet's poll answers with the folder's tombstone, and the
  // folder leaves the drive.
  const left = since(page.cursor);
  const leave = await cliOf(member)(['share', 'leave', mj.p('club'), '--state', mj.state]);
  t.equal(leave.code, 0, leave.stderr);
  at = Date.now();
  t.match((await left).entries, [{ id: root!.id, deleted: true }], 'the tombstone in the answer');
  await waitFor('the folder gone from the drive', async () => !existsSync(mj.p('club')), 5_000, 10);
  const gone = Date.now() - at;
  t.comment(`after the command returned: the folder on the drive in ${appeared} ms, gone in ${gone} ms`);
  t.ok(gone < 1_000, `removal hides the folder within the bar of 1 s (${gone} ms)`);
});

/** The kept copy of folder `name` made for `user` on `device` (README "Shared folders"). */
const copyOf = (name: string, user: string, device: string) =>
  new RegExp(`^${name} \\(conflicted copy from ${user} on ${device} \\d{4}-\\d\\d-\\d\\d \\d{6}\\)$`);

t.test('leaving with changes the server has not got: kept in the home, `loft status` lists it', async (t) => {
  const owner = await devices.newUser('kit');
  const member = await devices.newUser('lou');
  t.equal((await owner.api.writeFile('/crew/plan.txt', [Buffer.from('v1 by kit\n')])).status, 200);
  t.equal((await owner.api.writeFile('/crew/sub/old.txt', [Buffer.from('untouched\n')])).status, 200);
  t.equal((await cliOf(owner)(['share', '/crew', '--with', 'lou'])).code, 0);
  const ml = devices.mount(t, member, proxy.url);
  await ml.start();
  await waitFor('the shared folder on lou', async () =>
    (await readFile(ml.p('crew/plan.txt'), 'utf8').catch(() => null)) === 'v1 by kit\n' ? true : null,
  );

  // lou's drive is cut off with two changes in the folder; lou leaves it from another machine
  // (the CLI talks to the server directly).
  proxy.offline();
  await writeFile(ml.p('crew/plan.txt'), 'edited by lou offline\n');
  await writeFile(ml.p('crew/sub/new.txt'), 'made by lou offline\n');
  t.ok((await status(ml)).pending >= 2, 'queued on her drive');
  const leave = await cliOf(member)(['share', 'leave', '/crew']);
  t.equal(leave.code, 0, leave.stderr);

  proxy.online();
  const copy = await waitFor('the conflicted copy on lou', async () => {
    const names = readdirSync(ml.mountpoint);
    return !names.includes('crew') && names.find((n) => copyOf('crew', 'lou', 'lou-laptop').test(n));
  });
  t.pass(`kept as ${copy}`);
  t.equal(await readFile(ml.p(`${copy}/plan.txt`), 'utf8'), 'edited by lou offline\n');
  t.equal(await readFile(ml.p(`${copy}/sub/new.txt`), 'utf8'), 'made by lou offline\n');
  const st = await settled(ml);
  t.equal(st.stuck.length, 0, 'nothing set aside');
  t.ok(st.conflicts.includes(`/${copy}`), 'the status lists the copy');
  const cli = await runLoft(['status', '--state', ml.state]);
  t.equal(cli.code, 0, cli.stderr);
  t.ok(cli.stdout.includes(`! /${copy}`), '`loft status` lists it among the conflicts');
  t.equal((await serverFile(member.api, `/${copy}/plan.txt`))?.toString(), 'edited by lou offline\n');
  t.equal((await serverFile(owner.api, '/crew/plan.txt'))?.toString(), 'v1 by kit\n', "kit's is unchanged");
  t.same(await serverNames(owner.api, '/crew/sub'), ['old.txt']);
});

t.test(
  'removed while a push into the folder is in flight: kept in the home, nothing lands in the folder',
  async (t) => {
    const owner = await devices.newUser('max');
    const member = await devices.newUser('ned');
    t.equal((await owner.api.writeFile('/yard/plan.txt', [Buffer.from('v1 by max\n')])).status, 200);
    t.equal((await cliOf(owner)(['share', '/yard', '--with', 'ned'])).code, 0);
    const mn = devices.mount(t, member, proxy.url);
    await mn.start();
    await waitFor('the shared folder on ned', async () =>
      (await readFile(mn.p('yard/plan.txt'), 'utf8').catch(() => null)) === 'v1 by max\n' ? true : null,
    );
    await settled(mn);

    // The drive's next push is held in the proxy: the server gets it only after the removal.
    proxy.stall(/^(POST \/v1\/(batch|commit|blocks\/missing)|PUT \/v1\/blocks\/)/);
    await writeFile(mn.p('yard/plan.txt'), 'edited by ned, in flight\n');
    await writeFile(mn.p('yard/new.txt'), 'made by ned, in flight\n');
    await waitFor('the push held in the proxy', async () => proxy.stalledRequests === 1, 20_000, 20).catch(
      (err: Error) => {
        throw new Error(`${err.message}; requests: ${JSON.stringify([...proxy.requests])}`);
      },
    );
    t.comment(`held: ${proxy.stalledTargets.join(', ')}`);
    const polls = () => proxy.targets.filter((x) => x.startsWith('GET /v1/changes')).length;
    const before = polls();
    const rm = await cliOf(owner)(['share', 'remove', '/yard', '--with', 'ned']);
    t.equal(rm.code, 0, rm.stderr);
    // The drive's long-poll (not held) brings the removal and the drive polls again: it knows the
    // folder is gone while its push is still under way. Then the push reaches the server.
    await waitFor('the drive heard of the removal', async () => polls() > before, 20_000, 20);
    t.comment(`on the drive at the release: ${JSON.stringify(readdirSync(mn.mountpoint))}`);
    const sentBefore = proxy.targets.length;
    proxy.release();

    const copy = await waitFor('the conflicted copy on ned', async () => {
      const names = readdirSync(mn.mountpoint);
      return !names.includes('yard') && names.find((n) => copyOf('yard', 'ned', 'ned-laptop').test(n));
    });
    t.pass(`kept as ${copy}`);
    const pushed = proxy.targets.slice(sentBefore).filter((x) => !x.startsWith('GET /v1/changes'));
    t.comment(`sent after the release: ${pushed.join(', ')}`);
    t.equal(await readFile(mn.p(`${copy}/plan.txt`), 'utf8'), 'edited by ned, in flight\n');
    t.equal(await readFile(mn.p(`${copy}/new.txt`), 'utf8'), 'made by ned, in flight\n');
    const st = await settled(mn);
    t.equal(st.stuck.length, 0, 'nothing set aside');
    t.ok(st.conflicts.includes(`/${copy}`), '`loft status` says where');
    t.equal((await serverFile(member.api, `/${copy}/new.txt`))?.toString(), 'made by ned, in flight\n');

    // Nothing of ned's reached the folder after his removal.
    t.equal((await serverFile(owner.api, '/yard/plan.txt'))?.toString(), 'v1 by max\n', "max's is unchanged");
    t.same(await serverNames(owner.api, '/yard'), ['plan.txt'], 'no new file in the folder');
    const revs = (await owner.api.get('/v1/revisions?path=/yard/plan.txt')).body.revisions as unknown[];
    t.equal(revs.length, 1, 'no revision by ned');
  },
);
