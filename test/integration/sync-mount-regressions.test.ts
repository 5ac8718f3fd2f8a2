/**
 * Named regressions found by the random sync test through real mounts (sync-random-mounts.test.ts),
 * each the minimal form of what a seed did, through a real `loft mount` and a real server.
 */
import '../helpers/exit-promptly.js';
import { constants as C } from 'node:fs';
import fs from 'node:fs/promises';
import t from 'tap';
import { Api } from '../helpers/api.js';
import { checkDrive, Devices, settled, status, waitFor } from '../helpers/devices.js';
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

t.test(
  'fixed: mount seed 20 × 60: a rename over a file, refused by the server (its source was deleted elsewhere): the file it replaced here comes back',
  async (t) => {
    const dev = await devices.newUser('rename-over');
    const other = await devices.otherDevice(dev, 'rename-over-phone');
    const proxy = new FaultProxy(Number(new URL(server.url).port));
    proxies.push(proxy);
    await proxy.start();
    const m = devices.mount(t, dev, proxy.url);
    await m.start();
    const kept = pseudoRandom(388, 4);
    await fs.writeFile(m.p('a.txt'), pseudoRandom(1000, 5));
    await fs.writeFile(m.p('w'), kept);
    await settled(m);

    // Offline here: a.txt renamed over w; meanwhile another device deletes a.txt.
    proxy.offline();
    await fs.rename(m.p('a.txt'), m.p('w'));
    const a = (await other.api.get('/v1/node?path=/a.txt')).body as { rev: number };
    t.equal((await other.api.post('/v1/delete', { path: '/a.txt', parentRev: a.rev })).status, 200);
    proxy.online();
    const checker = new Api(server.url, other.token);
    await waitFor(
      'the move refused and the journal pulled',
      async () => {
        const head = cursorSeq((await checker.get('/v1/changes?limit=10000')).body.cursor as string);
        const s = await status(m);
        return s.pending === 0 && cursorSeq(s.cursor) === head;
      },
      30_000,
    );
    // The server still has w (the move never happened there): the drive shows it again.
    const shown = await waitFor(
      'w shown again',
      async () => {
        const names = (await fs.readdir(m.mountpoint)).sort();
        return names.includes('w') && names;
      },
      15_000,
    ).catch(async () => (await fs.readdir(m.mountpoint)).sort());
    t.same(shown, ['w'], 'w is back, a.txt is gone');
    t.equal(sha256(await fs.readFile(m.p('w')).catch(() => Buffer.alloc(0))), sha256(kept), "the server's w");
    const check = await checkDrive(m);
    t.equal(check.code, 0, `loft check: ${check.report?.summary ?? check.stderr}`);
    await m.stop();
  },
);
