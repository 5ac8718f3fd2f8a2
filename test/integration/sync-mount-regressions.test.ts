/**
 * Named regressions found by the random sync test through real mounts (sync-random-mounts.test.ts),
 * each the minimal form of what a seed did, through a real `loft mount` and a real server.
 */
import '../helpers/exit-promptly.js';
import { constants as C } from 'node:fs';
import fs from 'node:fs/promises';
import t from 'tap';
import { Api } from '../helpers/api.js';
import { Devices, settled, status, waitFor } from '../helpers/devices.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { pseudoRandom, putFile, sha256 } from '../helpers/fixtures.js';
import { ServerProcess } from '../helpers/server-process.js';
import { cursorSeq } from '../helpers/sync-sim.js';

const server = new ServerProcess();
const devices = new Devices(server);
const proxies: FaultProxy[] = [];
t.before(async () => {
  await server.start();
});
t.teardown(async () => {
  await devices.dispose();
  for (const p of proxies) await p.close().catch(() => undefined);
  await server.dispose();
});

t.test(
  'fixed: mount seed 6 × 40: renamed here, edited elsewhere, open for writing here: the edit made elsewhere is not replaced silently',
  async (t) => {
    const dev = await devices.newUser('rename-edit');
    const other = await devices.otherDevice(dev, 'rename-edit-phone');
    const proxy = new FaultProxy(Number(new URL(server.url).port));
    proxies.push(proxy);
    await proxy.start();
    const m = devices.mount(t, dev, proxy.url);
    await m.start();
    await fs.mkdir(m.p('a'));
    const base = pseudoRandom(1184, 1);
    await fs.writeFile(m.p('a/x.txt'), base);
    await settled(m);
    const rev = (await other.api.get('/v1/node?path=/a/x.txt')).body.rev as number;

    // Offline here: the file is renamed (a move queued) and opened for writing; meanwhile another
    // device commits a new version of it under its old name.
    proxy.offline();
    await fs.rename(m.p('a/x.txt'), m.p('a/y.txt'));
    const theirs = pseudoRandom(2514, 2);
    await putFile(other.api, '/a/x.txt', theirs, 1 << 20, rev);
    const fh = await fs.open(m.p('a/y.txt'), C.O_RDWR);
    try {
      // Online again: the move meets the newer revision on the server (409) and is made on top of it.
      proxy.online();
      const checker = new Api(server.url, other.token);
      await waitFor(
        'the move pushed and the journal pulled',
        async () => {
          const head = cursorSeq((await checker.get('/v1/changes?limit=10000')).body.cursor as string);
          const s = await status(m);
          return s.pending === 0 && cursorSeq(s.cursor) === head;
        },
        30_000,
      );
      const edit = pseudoRandom(665, 3);
      await fh.write(edit, 0, edit.length, 226);
    } finally {
      await fh.close();
    }
    const ours = Buffer.from(base);
    pseudoRandom(665, 3).copy(ours, 226);
    await settled(m);

    // Both versions live: theirs at the file's name, ours beside it as a conflicted copy.
    const list = (await other.api.get('/v1/list?path=/a')).body.entries as {
      name: string;
      blocks: { hash: string }[];
    }[];
    const shas = new Map<string, string>();
    for (const e of list) {
      const data = await fs.readFile(m.p(`a/${e.name}`));
      shas.set(e.name, sha256(data));
    }
    t.comment(`server: ${[...shas].map(([n, s]) => `${n} ${s.slice(0, 8)}`).join(', ')}`);
    t.ok([...shas.values()].includes(sha256(theirs)), 'the version made elsewhere is still in the tree');
    t.ok([...shas.values()].includes(sha256(ours)), 'the version made here is in the tree');
    t.equal(shas.get('y.txt'), sha256(theirs), 'the rename applies to the version made elsewhere');
    t.ok(
      [...shas.keys()].some((n) => n.startsWith('y (conflicted copy from rename-edit-laptop ')),
      'ours is a conflicted copy beside it',
    );
    await m.stop();
  },
);
