/**
 * Quotas through real processes (issue 13, item 7): `loft user quota NAME SIZE` beside a running
 * `loft serve`; a commit over quota is a 403 QUOTA_EXCEEDED (single route and batch); a real mount
 * keeps the refused change, shows it in `loft status`, and sends it once a delete frees space.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { sha256hex } from '../../src/shared/hash.js';
import { DOCUMENTED_CODES } from '../helpers/api.js';
import { Devices, serverFile, settled, status, waitFor } from '../helpers/devices.js';
import { runLoft, ServerProcess } from '../helpers/server-process.js';

const server = new ServerProcess();
const devices = new Devices(server);
t.before(async () => {
  await server.start();
});
t.teardown(async () => {
  await devices.dispose();
  await server.dispose();
});

const KiB = 1024;

async function quota(name: string, size: string) {
  const r = await runLoft(['user', 'quota', name, size, '--data', server.dataDir]);
  if (r.code !== 0) throw new Error(r.stderr);
  return r.stdout;
}

t.test('commits over quota: 403 QUOTA_EXCEEDED; shrinking and deleting always pass', async (t) => {
  const dev = await devices.newUser('carol');
  t.match(await quota('carol', '1M'), /carol: quota 1\.00 MiB \(1048576 bytes\)/);
  const bad = await runLoft(['user', 'quota', 'nobody', '1M', '--data', server.dataDir]);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /^loft: no user nobody\n$/);
  t.equal((await runLoft(['user', 'quota', 'carol', 'lots', '--data', server.dataDir])).code, 1);

  t.equal((await dev.api.writeFile('/a.bin', [randomBytes(600 * KiB)])).status, 200);
  const over = await dev.api.writeFile('/b.bin', [randomBytes(600 * KiB)]);
  t.equal(over.status, 403);
  t.equal(over.body.error.code, 'QUOTA_EXCEEDED');
  t.ok(DOCUMENTED_CODES.has('QUOTA_EXCEEDED'), 'a documented code');
  t.match(over.body.error, { quotaBytes: 1048576, usedBytes: 600 * KiB, neededBytes: 600 * KiB });
  const a = await dev.api.get('/v1/node?path=/a.bin');
  const smaller = await dev.api.writeFile('/a.bin', [randomBytes(100 * KiB)], a.body.rev);
  t.equal(smaller.status, 200, 'shrinking a file passes');

  // A batch: the commits that fit pass, the one that does not fails alone.
  const blocks = [];
  for (let i = 0; i < 3; i++) {
    const data = randomBytes(400 * KiB);
    await dev.api.putBlock(data);
    blocks.push({ hash: sha256hex(data), size: data.length });
  }
  const r = await dev.api.post('/v1/batch', {
    ops: blocks.map((b, i) => ({
      op: 'commit',
      path: `/batch-${i}.bin`,
      parentRev: null,
      blocks: [b],
      size: b.size,
      mtime: 1,
    })),
  });
  t.equal(r.status, 200);
  t.same(
    r.body.results.map((x: { error?: { code: string } }) => x.error?.code ?? 'ok'),
    ['ok', 'ok', 'QUOTA_EXCEEDED'],
  );
  t.match(await quota('carol', 'none'), /carol: no quota/);
  t.equal((await dev.api.writeFile('/b.bin', [randomBytes(600 * KiB)])).status, 200, 'lifted');
});

t.test('a mount keeps a change over quota, shows it, and sends it when space is freed', async (t) => {
  const dev = await devices.newUser('dave');
  await quota('dave', '1M');
  const keep = randomBytes(600 * KiB);
  t.equal((await dev.api.writeFile('/keep.bin', [keep])).status, 200);
  const m = devices.mount(t, dev);
  await m.start();
  t.equal((await readFile(path.join(m.mountpoint, 'keep.bin'))).length, keep.length);

  const data = randomBytes(600 * KiB);
  await writeFile(path.join(m.mountpoint, 'new.bin'), data);
  const s = await waitFor('the change set aside for the quota', async () => {
    const st = await status(m);
    return st.stuck.length > 0 && st;
  });
  t.match(s.stuck[0], { op: 'commit', path: '/new.bin', error: /over quota/ });
  t.equal(s.online, true, 'still online: the server is there');
  const human = await runLoft(['status', '--state', m.state]);
  t.match(human.stdout, /stuck.*new\.bin.*over quota/s, 'loft status shows it');
  t.ok((await readFile(path.join(m.mountpoint, 'new.bin'))).equals(data), 'kept locally');
  t.equal(await serverFile(dev.api, '/new.bin'), null, 'not on the server');

  // Free space from the drive itself: the delete goes on past the change set aside, then the
  // change is tried again (every QUOTA_RETRY_MS) and goes up.
  await rm(path.join(m.mountpoint, 'keep.bin'));
  await settled(m, 60_000);
  t.ok((await serverFile(dev.api, '/new.bin'))?.equals(data), 'sent once space was freed');
  t.equal(await serverFile(dev.api, '/keep.bin'), null);
  t.same((await status(m)).stuck, []);
});
