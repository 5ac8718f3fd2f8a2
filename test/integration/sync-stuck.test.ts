/**
 * No change can block the queue (DESIGN §6): a change the server keeps refusing for a reason of
 * its own is set aside after a few attempts, every later change of other files reaches the server,
 * `loft status` names the stuck one and `loft status --wait` fails instead of hanging; the stuck
 * change keeps its data and reaches the server once the fault is gone (here: at the next start).
 * Real `loft serve` and `loft mount` processes; the fault is injected by a proxy that answers every
 * request naming one file with a 500.
 */
import fs from 'node:fs/promises';
import t from 'tap';
import { Devices, serverFile, serverTree, settled, waitFor, type WriteStatus } from '../helpers/devices.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { runLoft, ServerProcess } from '../helpers/server-process.js';

const server = new ServerProcess();
const devices = new Devices(server);
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
});

t.test('a change the server keeps refusing is set aside; 100 later changes go on', async (t) => {
  const dev = await devices.newUser('stuck');
  const m = devices.mount(t, dev, proxy.url);
  await m.start();
  proxy.refuse('poison.txt');
  await fs.writeFile(m.p('poison.txt'), 'refused until the fault is lifted\n');
  await fs.mkdir(m.p('later'));
  for (let i = 0; i < 100; i++) await fs.writeFile(m.p(`later/f${i}.txt`), `later ${i}\n`);
  await fs.rename(m.p('later/f0.txt'), m.p('later/renamed.txt'));
  const tree = await waitFor(
    'the 100 later changes on the server',
    async () => {
      const s = await serverTree(dev.api);
      // The rename may reach the server after the 100 creates (f0 may go before it is renamed).
      const later = Object.keys(s).filter((p) => p.startsWith('/later/'));
      return later.length === 100 && s['/later/renamed.txt'] && s;
    },
    60_000,
    200,
  );
  t.ok(tree['/later/renamed.txt'], 'the rename went too');
  t.notOk(tree['/poison.txt'], 'the refused file is not there');
  t.ok(proxy.refusedRequests >= 4, `the refused commit was tried (${proxy.refusedRequests}×)`);
  const st = (await m.status()) as WriteStatus & {
    stuck: { op: string; path: string; error: string; attempts: number }[];
    blocked: boolean;
  };
  t.match(st.stuck, [{ op: 'commit', path: '/poison.txt', error: /injected fault/ }], 'status names it');
  t.equal(st.pending, 1, 'only it is pending');
  const wait = await runLoft(['status', '--wait', '--state', m.state]);
  t.equal(wait.code, 1, '--wait fails instead of hanging');
  t.match(
    wait.stderr,
    /^loft: 1 change\(s\) cannot reach the server now: commit \/poison\.txt \(.*injected fault/,
  );
  t.match(wait.stdout, /stuck: commit \/poison\.txt/);
  // The local file is intact the whole time.
  t.equal(await fs.readFile(m.p('poison.txt'), 'utf8'), 'refused until the fault is lifted\n');
  // Fault lifted; the next start puts it back in line and it goes.
  proxy.refuse(null);
  await m.stop();
  await devices.restart(m);
  await settled(m);
  t.equal(
    (await serverFile(dev.api, '/poison.txt'))?.toString(),
    'refused until the fault is lifted\n',
    'the stuck change reached the server with its data',
  );
  await m.stop();
});

t.test('a file kept open for writing holds only itself: later changes go on', async (t) => {
  const dev = await devices.newUser('held');
  const m = devices.mount(t, dev);
  await m.start();
  const log = await fs.open(m.p('app.log'), 'w');
  await log.write('first line\n');
  await log.sync(); // durable here; its commit waits for the last writer
  for (let i = 0; i < 10; i++) await fs.writeFile(m.p(`other${i}.txt`), `other ${i}\n`);
  await waitFor(
    'the other files on the server while app.log is open',
    async () => Object.keys(await serverTree(dev.api)).filter((p) => p.startsWith('/other')).length === 10,
    30_000,
    100,
  );
  t.notOk((await serverTree(dev.api))['/app.log'], 'the open file is not uploaded half-written');
  const st = (await m.status()) as WriteStatus & { blocked: boolean };
  t.equal(st.pending, 1, 'only the open file waits');
  t.equal(st.blocked, true, 'and the push loop says nothing else can run');
  await log.write('second line\n');
  await log.close();
  await settled(m);
  t.equal((await serverFile(dev.api, '/app.log'))?.toString(), 'first line\nsecond line\n');
  await m.stop();
});
