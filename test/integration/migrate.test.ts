/**
 * `loft migrate` (issue 15, item 3) through real processes: an embedded `loft serve` (SQLite +
 * local blocks) with a mounted drive that made a few hundred files and some history (overwrites,
 * renames, deletes); both stopped; `loft migrate --from DIR --meta postgres://… --blocks s3://…`
 * (the run's PostgreSQL, a real S3 server); run again (nothing more copied); a new `loft serve` on
 * the new engines at the old one's address; the same drive (same state dir) mounted against it keeps
 * its cursor and mirror:
 * no first sync, `loft check` in sync, history there, and new changes flow both ways. A second
 * installation is refused by the same target.
 */
import fs from 'node:fs/promises';
import t from 'tap';
import { Api } from '../helpers/api.js';
import { checkDrive, Devices, serverFile, settled, status } from '../helpers/devices.js';
import { MountProcess } from '../helpers/mount-process.js';
import { testDatabase } from '../helpers/postgres.js';
import { startS3 } from '../helpers/s3.js';
import { runLoft, ServerProcess } from '../helpers/server-process.js';

const began = performance.now();
const [db, s3] = await Promise.all([testDatabase(), startS3()]);
Object.assign(process.env, db.env, s3.env);
const blocksUrl = s3.url(await s3.bucket(), 'blocks');
const old = new ServerProcess();
const devices = new Devices(old);
let next: ServerProcess | null = null;
t.teardown(async () => {
  await devices.dispose();
  await next?.dispose();
  await old.dispose();
  s3.stop();
  t.comment(`whole file: ${Math.round((performance.now() - began) / 1000)} s`);
});

const FILES = 300;
/** Server and mount start-up bound: generous, the machine running the suite may be saturated. */
const START_MS = 120_000;

t.test('migrate an installation with history; the drive keeps working without a re-sync', async (t) => {
  await old.start(START_MS);
  const laptop = await old.addUser('alice', ['--device', 'laptop']);
  const phone = await old.addToken('alice', ['--device', 'phone']);
  const a = devices.mount(t, {
    user: 'alice',
    device: 'laptop',
    token: laptop,
    api: new Api(old.url, laptop),
  });
  await a.start([], START_MS);
  for (let d = 0; d < 10; d++) {
    await fs.mkdir(a.p(`d${d}`));
    for (let f = 0; f < FILES / 10; f++) await fs.writeFile(a.p(`d${d}/f${f}.txt`), `file ${d}/${f}\n`);
  }
  // On the server before they are edited: an edit of a new file still queued folds into its one
  // commit (a burst is held while it runs: sync/linger.ts), and the edits must make history.
  await settled(a);
  for (let i = 0; i < 20; i++) await fs.writeFile(a.p(`d0/f${i}.txt`), `file 0/${i}, edited\n`);
  for (let i = 0; i < 10; i++) await fs.unlink(a.p(`d1/f${i}.txt`));
  for (let i = 0; i < 5; i++) await fs.rename(a.p(`d2/f${i}.txt`), a.p(`d3/moved${i}.txt`));
  await fs.writeFile(a.p('big.bin'), Buffer.alloc(3 * 1024 * 1024 + 5, 'migrate me '));
  await settled(a);
  const before = await status(a);
  const checkedBefore = await checkDrive(a);
  t.equal(checkedBefore.code, 0, 'in sync with the old server');
  await a.stop();
  await old.stop();

  const args = ['migrate', '--from', old.dataDir, '--meta', db.url, '--blocks', blocksUrl];
  const first = await runLoft([...args, '--json']);
  t.equal(first.code, 0, first.stderr);
  const report = JSON.parse(first.stdout) as {
    tables: Record<string, { source: number; target: number }>;
    blocks: { total: number; copied: number; alreadyThere: number };
  };
  t.match(first.stderr, /loft migrate: revisions: [\d,]+ rows/, 'progress per table');
  t.match(first.stderr, /loft migrate: blocks: 100%/, 'progress of the blocks');
  for (const [table, n] of Object.entries(report.tables)) t.equal(n.target, n.source, `${table}: all rows`);
  t.ok(report.tables.revisions!.source > FILES + 20, 'history copied (more revisions than files)');
  t.equal(report.blocks.copied, report.blocks.total);
  t.ok(report.blocks.total > 0);

  const again = await runLoft([...args, '--json']);
  t.equal(again.code, 0, again.stderr);
  const report2 = JSON.parse(again.stdout) as typeof report;
  t.equal(report2.blocks.copied, 0, 'run again: no block copied twice');
  t.equal(report2.blocks.alreadyThere, report.blocks.total);
  t.same(report2.tables, report.tables, 'and the same rows');

  // The new server takes over the old one's address (as a balancer or a DNS name would: a drive's
  // state dir is bound to its server URL, and a drive refuses to follow another one with it).
  next = new ServerProcess(undefined, [
    '--meta',
    db.url,
    '--blocks',
    blocksUrl,
    '--listen',
    new URL(old.url).host,
  ]);
  await next.start(START_MS);
  t.equal(next.url, old.url, 'the new server answers at the old address');
  // The same drive (state dir, remembered token) against the new engines.
  const moved = new MountProcess(next.url, laptop, { root: a.root, state: a.state, cacheSize: '256M' });
  t.teardown(() => moved.dispose());
  await moved.start([], START_MS);
  t.notMatch(moved.stderr, /first sync/, 'no first sync: the mirror is kept');
  t.equal((await status(moved)).cursor, before.cursor, 'the same cursor, valid on the new server');
  const check = await checkDrive(moved);
  t.equal(check.code, 0, `loft check against the new server: ${check.report?.summary ?? check.stderr}`);
  t.equal(check.report?.matching, checkedBefore.report?.matching, 'every node matches, as before');

  const api = new Api(next.url, phone);
  const revs = await api.get('/v1/revisions?path=/d0/f3.txt');
  t.equal(revs.status, 200);
  t.equal((revs.body.revisions as unknown[]).length, 2, 'history of an edited file');
  t.same(await serverFile(api, '/big.bin'), Buffer.alloc(3 * 1024 * 1024 + 5, 'migrate me '), 'blocks in S3');

  await fs.writeFile(moved.p('d0/after.txt'), 'made after the move\n');
  await settled(moved);
  t.equal(
    (await serverFile(api, '/d0/after.txt'))?.toString(),
    'made after the move\n',
    'drive → new server',
  );
  const put = await api.post('/v1/mkdir', { path: '/from-phone' });
  t.equal(put.status, 200, 'phone makes a folder on the new server');
  const seen = await (async () => {
    for (let i = 0; i < 200; i++) {
      if ((await fs.readdir(moved.mountpoint)).includes('from-phone')) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  })();
  t.ok(seen, 'new server → drive');
});

t.test('another installation is refused by a target that holds one', async (t) => {
  const other = new ServerProcess();
  t.teardown(() => other.dispose());
  await other.addUser('mallory', ['--device', 'x']);
  const r = await runLoft(['migrate', '--from', other.dataDir, '--meta', db.url, '--blocks', blocksUrl]);
  t.equal(r.code, 1);
  t.match(r.stderr, /already holds another installation/);
  t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  const bad = await runLoft(['migrate', '--from', other.dataDir, '--meta', db.url]);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /--blocks s3:\/\/… or --data DIR/);
});
