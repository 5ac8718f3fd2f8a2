/**
 * Moving an installation to new servers at a NEW address (issue 15, item 3), at size, through real
 * processes:
 *
 * 1. An embedded `loft serve` (SQLite + local blocks) gets 10,000 files with history (an edit of
 *    1,000 of them, 200 deletes, 200 moves) through `POST /v1/batch`, 1,000 ops a request, the
 *    contents inline once and referenced by hash after (fast: no mount, no per-file request).
 * 2. A real mount makes its state dir against that server (first sync of the whole tree), writes
 *    a file, stops; the server stops.
 * 3. `loft migrate` to PostgreSQL + S3 is cut off (SIGKILL) once it has copied the nodes table,
 *    then run again to the end: every row count and every block verified.
 * 4. Two `loft serve` on the new engines behind HAProxy, and a counting proxy (FaultProxy) in front
 *    of the balancer: the drive is mounted with the same state dir and `--server` the new address.
 *    It logs one "server moved" line, keeps its cursor, reads old files (their blocks now in S3),
 *    and changes flow both ways; the proxy saw no full re-sync (no journal read from an empty
 *    cursor, no tree listing).
 * 5. Another installation at yet another address is refused with one line, the state dir untouched.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { sha256hex } from '../../src/shared/hash.js';
import { Api } from '../helpers/api.js';
import { startBalancer, type Balancer } from '../helpers/balancer.js';
import { Devices, serverFile, settled, status, waitFor } from '../helpers/devices.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { MountProcess } from '../helpers/mount-process.js';
import { testDatabase } from '../helpers/postgres.js';
import { startS3 } from '../helpers/s3.js';
import { LOFT_BIN, runLoft, ServerProcess } from '../helpers/server-process.js';

const began = performance.now();
const elapsed = () => `${((performance.now() - began) / 1000).toFixed(1)} s`;
const [db, s3] = await Promise.all([testDatabase(), startS3()]);
Object.assign(process.env, db.env, s3.env);
const blocksUrl = s3.url(await s3.bucket(), 'blocks');
const stores = ['--meta', db.url, '--blocks', blocksUrl];
const old = new ServerProcess();
const devices = new Devices(old);
const news: ServerProcess[] = [];
let lb: Balancer | null = null;
let proxy: FaultProxy | null = null;
t.teardown(async () => {
  await devices.dispose();
  await proxy?.close();
  await lb?.stop();
  for (const s of news) await s.dispose();
  await old.dispose();
  s3.stop();
  t.comment(`whole file: ${elapsed()}`);
});

const DIRS = 10;
const PER_DIR = 1000;
/** Distinct contents; file i holds content(i % CONTENTS). */
const CONTENTS = 100;
const NOW = 1_700_000_000_000;
/** Server and mount start-up bound: generous, the machine running the suite may be saturated. */
const START_MS = 120_000;

const content = (k: number) => Buffer.from(`content ${k}\n`.repeat(k + 1));
const ref = (k: number) => {
  const data = content(k);
  return { blocks: [{ hash: sha256hex(data), size: data.length }], size: data.length };
};

type Result = { rev: number; error?: { code: string; message: string } };
async function batch(api: Api, ops: object[]): Promise<Result[]> {
  const r = await api.post('/v1/batch', { ops });
  if (r.status !== 200) throw new Error(`POST /v1/batch: ${r.status} ${r.raw.toString().slice(0, 300)}`);
  const results = r.body.results as Result[];
  const failed = results.find((x) => x.error);
  if (failed) throw new Error(`a batch op failed: ${JSON.stringify(failed.error)}`);
  return results;
}

t.test('10,000 files with history move to PostgreSQL + S3 at a new address; no re-sync', async (t) => {
  await old.start(START_MS);
  const laptop = await old.addUser('alice', ['--device', 'laptop']);
  const phone = await old.addToken('alice', ['--device', 'phone']);
  const api = new Api(old.url, phone);
  const oldInstallation = (await api.get('/v1/whoami')).body.installation as string;
  t.match(oldInstallation, /^[0-9a-f]{32}$/, 'the embedded server reports its installation id');

  // 1. The tree, in batches of 1,000 ops.
  await batch(api, [
    { op: 'mkdir', path: '/seed' },
    ...Array.from({ length: CONTENTS }, (_, k) => ({
      op: 'commit',
      path: `/seed/s${k}.txt`,
      parentRev: null,
      mtime: NOW,
      ...ref(k),
      inline: content(k).toString('base64'),
    })),
  ]);
  await batch(
    api,
    Array.from({ length: DIRS }, (_, d) => ({ op: 'mkdir', path: `/d${d}` })),
  );
  const revs = new Map<string, number>();
  for (let d = 0; d < DIRS; d++) {
    const paths = Array.from({ length: PER_DIR }, (_, i) => `/d${d}/f${i}.txt`);
    const results = await batch(
      api,
      paths.map((p, i) => ({
        op: 'commit',
        path: p,
        parentRev: null,
        mtime: NOW,
        ...ref((d * PER_DIR + i) % CONTENTS),
      })),
    );
    paths.forEach((p, i) => revs.set(p, results[i]!.rev));
  }
  const edits = Array.from({ length: PER_DIR }, (_, i) => `/d0/f${i}.txt`);
  await batch(
    api,
    edits.map((p, i) => ({
      op: 'commit',
      path: p,
      parentRev: revs.get(p),
      mtime: NOW + 1,
      ...ref((i + 1) % CONTENTS),
    })),
  );
  const gone = Array.from({ length: 200 }, (_, i) => `/d1/f${i}.txt`);
  await batch(
    api,
    gone.map((p) => ({ op: 'delete', path: p, parentRev: revs.get(p), recursive: false })),
  );
  await batch(
    api,
    Array.from({ length: 200 }, (_, i) => ({
      op: 'move',
      path: `/d2/f${i}.txt`,
      parentRev: revs.get(`/d2/f${i}.txt`),
      toPath: `/d3/moved${i}.txt`,
      overwrite: false,
    })),
  );
  t.comment(`10,000 files with history made after ${elapsed()}`);

  // 2. A drive made against the old server.
  const a = devices.mount(t, {
    user: 'alice',
    device: 'laptop',
    token: laptop,
    api: new Api(old.url, laptop),
  });
  await a.start([], START_MS);
  await waitFor('the first sync', async () => (await status(a)).synced, 60_000);
  t.same(await fs.readFile(a.p('d0/f7.txt')), content(8), 'an edited file, through the old server');
  await fs.writeFile(a.p('before-move.txt'), 'made before the move\n');
  const before = await settled(a);
  t.comment(`drive made against the old server after ${elapsed()}; ${before.files} files`);
  await a.stop();
  await old.stop();

  // 3. Migrate, cut off once the nodes are copied, then to the end.
  const args = ['migrate', '--from', old.dataDir, ...stores];
  t.comment(`old server stopped after ${elapsed()}`);
  const cut = await new Promise<{ stderr: string; signal: string | null }>((resolve) => {
    const child = spawn(process.execPath, [LOFT_BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (/loft migrate: nodes: /.test(stderr)) child.kill('SIGKILL');
    });
    child.once('exit', (_code, signal) => resolve({ stderr, signal }));
  });
  t.equal(cut.signal, 'SIGKILL', 'the first run was cut off');
  t.notMatch(cut.stderr, /loft migrate: blocks: 100%/, 'before its blocks were copied');
  const migrated = performance.now();
  const full = await runLoft([...args, '--json']);
  t.equal(full.code, 0, full.code ? full.stderr : 'the resumed run completes');
  t.comment(`the resumed migration took ${Math.round(performance.now() - migrated)} ms`);
  const report = JSON.parse(full.stdout) as {
    tables: Record<string, { source: number; target: number }>;
    blocks: { total: number; copied: number; alreadyThere: number };
  };
  for (const [table, n] of Object.entries(report.tables)) t.equal(n.target, n.source, `${table}: all rows`);
  t.ok(report.tables.nodes!.source >= DIRS * PER_DIR + CONTENTS, 'every node');
  t.ok(report.tables.revisions!.source >= DIRS * PER_DIR + PER_DIR + 400, 'with their history');
  t.equal(report.blocks.copied + report.blocks.alreadyThere, report.blocks.total, 'every block');
  t.match(full.stderr, /loft migrate: revisions: [\d,]+ rows/, 'progress per table');
  t.match(full.stderr, /loft migrate: blocks: 100%/, 'progress of the blocks');

  // 4. New servers at a new address: two on the new engines, the balancer, a counting proxy.
  t.comment(`migrated after ${elapsed()}`);
  const pair = [0, 1].map(() => new ServerProcess(undefined, [...stores, '--trust-proxy', '127.0.0.1']));
  news.push(...pair);
  await Promise.all(pair.map((s) => s.start(START_MS)));
  lb = await startBalancer(news.map((s) => s.url));
  proxy = new FaultProxy(Number(new URL(lb.url).port));
  const address = await proxy.start();
  const phoneNew = new Api(lb.url, phone);
  t.equal(
    (await phoneNew.get('/v1/whoami')).body.installation,
    oldInstallation,
    'the installation id is kept',
  );

  t.comment(`new servers up after ${elapsed()}`);
  const moved = new MountProcess(address, laptop, { root: a.root, state: a.state, cacheSize: '256M' });
  t.teardown(() => moved.dispose());
  await moved.start([], START_MS);
  const movedLines = moved.stderr.split('\n').filter((l) => l.includes('server moved'));
  t.equal(movedLines.length, 1, 'one line says the drive follows the new address');
  t.match(movedLines[0], `→ ${address}`);
  t.notMatch(moved.stderr, /first sync/, 'no first sync: the mirror is kept');
  t.equal((await status(moved)).cursor, before.cursor, 'the same cursor, valid on the new servers');
  t.equal(
    (JSON.parse(readFileSync(path.join(a.state, 'config.json'), 'utf8')) as { server: string }).server,
    address,
    'the state dir remembers the new address',
  );

  t.comment(`drive moved after ${elapsed()}`);
  t.same(await fs.readFile(moved.p('d5/f123.txt')), content(5123 % CONTENTS), 'an old file, from S3');
  t.same(await fs.readFile(moved.p('d3/moved7.txt')), content((2 * PER_DIR + 7) % CONTENTS), 'a moved one');
  t.equal((await fs.readdir(moved.p('d1'))).length, PER_DIR - 200, 'deletes kept');
  t.equal((await fs.readdir(moved.p('d3'))).length, PER_DIR + 200, 'moves kept');
  await fs.writeFile(moved.p('d9/after.txt'), 'made after the move\n');
  await settled(moved);
  t.equal(
    (await serverFile(phoneNew, '/d9/after.txt'))?.toString(),
    'made after the move\n',
    'drive → new servers',
  );
  t.equal((await phoneNew.post('/v1/mkdir', { path: '/from-phone' })).status, 200);
  await waitFor('from-phone on the drive', async () =>
    (await fs.readdir(moved.mountpoint)).includes('from-phone'),
  );
  t.pass('new servers → drive');

  const journal = proxy.targets.filter((r) => r.startsWith('GET /v1/changes'));
  t.ok(journal.length > 0, `the drive read the journal through the new address (${journal.length} requests)`);
  t.same(
    journal.filter((r) => /[?&]cursor=(&|$)/.test(r)),
    [],
    'never from the beginning (no full re-sync)',
  );
  t.same(
    proxy.targets.filter((r) => r.startsWith('GET /v1/tree')),
    [],
    'and no tree listing',
  );
  await moved.stop();
  t.comment(`changes both ways after ${elapsed()}`);

  // 5. Another installation (its alice has the same user, namespace and root ids) is refused.
  const other = new ServerProcess();
  news.push(other);
  await other.start(START_MS);
  const otherToken = await other.addUser('alice', ['--device', 'laptop']);
  const wrong = new MountProcess(other.url, otherToken, { root: a.root, state: a.state, cacheSize: '256M' });
  t.teardown(() => wrong.dispose());
  const err = await wrong.start([], START_MS).then(
    () => null,
    (e: unknown) => e as Error,
  );
  t.ok(err, 'the mount is refused');
  const lines = wrong.stderr.trim().split('\n');
  t.equal(lines.length, 1, `one line: ${wrong.stderr}`);
  t.match(lines[0], /is another installation/);
  t.equal(
    (JSON.parse(readFileSync(path.join(a.state, 'config.json'), 'utf8')) as { server: string }).server,
    address,
    'the state dir still names the new servers',
  );
});
