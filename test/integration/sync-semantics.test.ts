/**
 * Concurrent operations on two devices, one by one, as the README's SEMANTICS section states them.
 * Two real `loft mount` processes of one user against one real `loft serve`; the concurrency is made
 * by stopping the server while both devices change the same thing (neither sees the other's change),
 * then starting it again. After each case both devices and the server converge to the same tree.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openDriveCore } from '../../src/client/client.js';
import { silentLogger } from '../../src/shared/log.js';
import { Api } from '../helpers/api.js';
import '../helpers/exit-promptly.js';
import t, { type Test as Tap } from 'tap';
import { MiB, pseudoRandom, sha256 } from '../helpers/fixtures.js';
import {
  Devices,
  mountTree,
  serverFile,
  serverTree,
  settled,
  waitFor,
  type Tree,
} from '../helpers/devices.js';
import type { MountProcess } from '../helpers/mount-process.js';
import { ServerProcess } from '../helpers/server-process.js';

const server = new ServerProcess();
const devices = new Devices(server);
t.before(async () => {
  await server.start();
});
t.teardown(async () => {
  await devices.dispose();
  await server.dispose();
});

interface Pair {
  a: MountProcess;
  b: MountProcess;
  api: Api;
  bDevice: string;
  aDevice: string;
}

/** A new user with two mounted devices. */
async function pair(t: Tap, user: string): Promise<Pair> {
  const da = await devices.newUser(user);
  const db = await devices.otherDevice(da, `${user}-desktop`);
  const a = devices.mount(t, da);
  const b = devices.mount(t, db);
  await Promise.all([a.start(), b.start()]);
  t.teardown(async () => {
    await a.stop().catch(() => undefined);
    await b.stop().catch(() => undefined);
  });
  return { a, b, api: da.api, aDevice: da.device, bDevice: db.device };
}

/** Runs `fn` with the server down: both devices work locally, neither sees the other. */
async function apart(fn: () => Promise<void>): Promise<void> {
  await server.stop();
  try {
    await fn();
  } finally {
    if (!server.alive) await server.start();
  }
}

/** Both devices have pushed everything and show exactly the server's tree; returns that tree. */
async function converged(t: Tap, p: Pair): Promise<Tree> {
  await Promise.all([settled(p.a), settled(p.b)]);
  let last = '';
  const tree = await waitFor(
    'both devices to show the server tree',
    async () => {
      // A folder listed and then moved by the sync before the walk reached it: still moving.
      const trees = await Promise.all([
        serverTree(p.api),
        mountTree(p.a.mountpoint),
        mountTree(p.b.mountpoint),
      ]).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
        last = `a walk met a folder moved meanwhile: ${err.message}`;
        return null;
      });
      if (!trees) return false;
      const [s, ta, tb] = trees;
      const [js, ja, jb] = [s, ta, tb].map((x) => JSON.stringify(sorted(x)));
      last = `server ${js}\nA ${ja}\nB ${jb}`;
      return js === ja && js === jb && s;
    },
    20_000,
    200,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${last}`);
  });
  t.pass('both devices and the server converged');
  return tree;
}

function sorted(tree: Tree): Tree {
  return Object.fromEntries(Object.entries(tree).sort(([x], [y]) => (x < y ? -1 : 1)));
}

/** Writes a file on a mount and waits until the other mount reads the same bytes. */
async function seed(p: Pair, rel: string, text: string): Promise<void> {
  await fs.writeFile(p.a.p(rel), text);
  await settled(p.a);
  await waitFor(
    `B to read ${rel}`,
    async () => (await fs.readFile(p.b.p(rel), 'utf8').catch(() => '')) === text,
  );
}

const names = (tree: Tree) => Object.keys(tree).sort();
const COPY = /\(conflicted copy from .+ \d{4}-\d\d-\d\d \d{6}\)/;
const lines = (n: number, tag = 'line') => Array.from({ length: n }, (_, i) => `${tag} ${i + 1}\n`).join('');

t.test('edit vs edit, different lines of a text file: merged on both devices, no copy', async (t) => {
  const p = await pair(t, 'merge');
  const base = lines(20);
  await seed(p, 'notes.txt', base);
  const ours = base.replace('line 2\n', 'line 2 edited on A\n');
  const theirs = base.replace('line 18\n', 'line 18 edited on B\n');
  await apart(async () => {
    await fs.writeFile(p.a.p('notes.txt'), ours);
    await fs.writeFile(p.b.p('notes.txt'), theirs);
  });
  const tree = await converged(t, p);
  t.same(names(tree), ['/notes.txt'], 'no conflicted copy');
  const merged = base
    .replace('line 2\n', 'line 2 edited on A\n')
    .replace('line 18\n', 'line 18 edited on B\n');
  t.equal((await serverFile(p.api, '/notes.txt'))?.toString(), merged, 'the server holds both edits');
  t.equal(await fs.readFile(p.a.p('notes.txt'), 'utf8'), merged, 'A reads the merge');
  t.equal(await fs.readFile(p.b.p('notes.txt'), 'utf8'), merged, 'B reads the merge');
});

t.test('edit vs edit, the same line: a conflicted copy keeps the loser, nothing is lost', async (t) => {
  const p = await pair(t, 'clash');
  const base = lines(5);
  await seed(p, 'plan.md', base);
  const ours = base.replace('line 3\n', 'A says three\n');
  const theirs = base.replace('line 3\n', 'B says three\n');
  await apart(async () => {
    await fs.writeFile(p.a.p('plan.md'), ours);
    await fs.writeFile(p.b.p('plan.md'), theirs);
  });
  const tree = await converged(t, p);
  const all = names(tree);
  t.equal(all.length, 2, `the file and one copy: ${all.join(', ')}`);
  const copy = all.find((n) => COPY.test(n));
  t.ok(copy && /^\/plan \(conflicted copy from .+\)\.md$/.test(copy), 'named as documented, extension last');
  const contents = new Set([tree['/plan.md']?.sha256, tree[copy ?? '']?.sha256]);
  t.same(
    contents,
    new Set([sha256(Buffer.from(ours)), sha256(Buffer.from(theirs))]),
    'both versions survive',
  );
});

t.test('edit vs edit of a binary file: a conflicted copy (no merge)', async (t) => {
  const p = await pair(t, 'binary');
  await seed(p, 'data.bin', 'ab\0cd\nef\ngh\nij\nkl\n');
  await apart(async () => {
    await fs.writeFile(p.a.p('data.bin'), 'AB\0cd\nef\ngh\nij\nkl\n');
    await fs.writeFile(p.b.p('data.bin'), 'ab\0cd\nef\ngh\nij\nKL\n');
  });
  const tree = await converged(t, p);
  t.equal(names(tree).length, 2, 'a copy beside the file');
});

t.test('edit vs delete: the edit wins and the file comes back on both devices', async (t) => {
  const p = await pair(t, 'editdel');
  await seed(p, 'keep.txt', 'v1\n');
  await apart(async () => {
    await fs.writeFile(p.a.p('keep.txt'), 'v2 from A\n');
    await fs.rm(p.b.p('keep.txt'));
  });
  const tree = await converged(t, p);
  t.same(names(tree), ['/keep.txt']);
  t.equal(await fs.readFile(p.b.p('keep.txt'), 'utf8'), 'v2 from A\n', 'B has the edited file back');
});

t.test('rm -rf of a folder goes as one delete: restoring the folder brings back all it held', async (t) => {
  const p = await pair(t, 'rmrf');
  for (let i = 0; i < 3; i++) await fs.mkdir(p.a.p(`top/d${i}`), { recursive: true });
  for (let i = 0; i < 30; i++) await fs.writeFile(p.a.p(`top/d${i % 3}/f${i}.txt`), `file ${i}\n`);
  await settled(p.a);
  const before = await serverTree(p.api);
  t.equal(Object.keys(before).length, 34, 'top, 3 folders, 30 files on the server');
  // Removed while the server is down: every delete waits in the outbox, and the folders' deletes
  // fold in the deletes of what they held.
  await apart(async () => {
    await fs.rm(p.a.p('top'), { recursive: true });
    const st = (await p.a.status()) as { pending: number };
    t.equal(st.pending, 1, 'one queued delete for the whole folder (was 34)');
  });
  const gone = await converged(t, p);
  t.same(names(gone), []);
  // The server took them in one delete: a restore of the folder brings everything back.
  const deleted = await p.api.get('/v1/deleted?path=/');
  const top = (deleted.body as { entries: { path: string; id: number; lastRev: number }[] }).entries.find(
    (e) => e.path === '/top',
  );
  t.ok(top, 'the folder is listed as deleted');
  const r = await p.api.post('/v1/restore', { id: top!.id, rev: top!.lastRev });
  t.equal(r.status, 200, `restore answered ${r.status === 200 ? '' : r.raw.toString()}`);
  const back = await converged(t, p);
  t.same(back, before, 'the folder came back with all 33 entries it held');
});

t.test('rm -rf vs edit and create inside: the edit and the new file stay with their folders', async (t) => {
  const p = await pair(t, 'rmrfedit');
  await fs.mkdir(p.a.p('dir/sub'), { recursive: true });
  await fs.writeFile(p.a.p('dir/a.txt'), 'a\n');
  await fs.writeFile(p.a.p('dir/sub/b.txt'), 'b\n');
  await seed(p, 'dir/sub/c.txt', 'c\n');
  await apart(async () => {
    await fs.writeFile(p.a.p('dir/sub/b.txt'), 'b edited on A\n');
    await fs.writeFile(p.a.p('dir/new.txt'), 'new on A\n');
    await fs.rm(p.b.p('dir'), { recursive: true });
  });
  const tree = await converged(t, p);
  t.same(names(tree), ['/dir', '/dir/new.txt', '/dir/sub', '/dir/sub/b.txt']);
  t.equal(await fs.readFile(p.b.p('dir/sub/b.txt'), 'utf8'), 'b edited on A\n');
  t.equal(await fs.readFile(p.b.p('dir/new.txt'), 'utf8'), 'new on A\n');
});

t.test('rename vs edit: both apply', async (t) => {
  const p = await pair(t, 'renedit');
  await seed(p, 'draft.txt', 'first\n');
  await apart(async () => {
    await fs.rename(p.a.p('draft.txt'), p.a.p('final.txt'));
    await fs.writeFile(p.b.p('draft.txt'), 'second, longer\n');
  });
  const tree = await converged(t, p);
  t.same(names(tree), ['/final.txt'], 'one file, under the new name');
  t.equal(await fs.readFile(p.a.p('final.txt'), 'utf8'), 'second, longer\n', "with B's content");
});

t.test(
  'rename vs rename of the same file: one name wins everywhere, the file is not duplicated',
  async (t) => {
    const p = await pair(t, 'renren');
    await seed(p, 'x.txt', 'content\n');
    await apart(async () => {
      await fs.rename(p.a.p('x.txt'), p.a.p('from-a.txt'));
      await fs.rename(p.b.p('x.txt'), p.b.p('from-b.txt'));
    });
    const tree = await converged(t, p);
    const all = names(tree);
    t.equal(all.length, 1, `exactly one file: ${all.join(', ')}`);
    t.ok(['/from-a.txt', '/from-b.txt'].includes(all[0] ?? ''), 'under one of the two new names');
    t.equal(tree[all[0]!]?.sha256, sha256(Buffer.from('content\n')), 'content intact');
  },
);

t.test(
  'a folder deleted on one device while the other writes inside it: the written files survive',
  async (t) => {
    const p = await pair(t, 'dirdel');
    await fs.mkdir(p.a.p('proj'));
    await fs.writeFile(p.a.p('proj/old.txt'), 'old\n');
    await fs.writeFile(p.a.p('proj/untouched.txt'), 'untouched\n');
    await settled(p.a);
    await waitFor('B to see proj/old.txt', async () =>
      fs.readFile(p.b.p('proj/old.txt'), 'utf8').then(
        (s) => s === 'old\n',
        () => false,
      ),
    );
    await apart(async () => {
      await fs.rm(p.a.p('proj'), { recursive: true });
      await fs.writeFile(p.b.p('proj/new.txt'), 'new on B\n');
      await fs.writeFile(p.b.p('proj/old.txt'), 'old, edited on B\n');
    });
    const tree = await converged(t, p);
    t.equal(tree['/proj/new.txt']?.sha256, sha256(Buffer.from('new on B\n')), 'the new file survives');
    t.equal(
      tree['/proj/old.txt']?.sha256,
      sha256(Buffer.from('old, edited on B\n')),
      'the edited file survives',
    );
    t.notOk(tree['/proj/untouched.txt'], 'the file nobody touched stays deleted');
  },
);

t.test('moves that would make a cycle: one applies, the other is undone, nothing is lost', async (t) => {
  const p = await pair(t, 'cycle');
  await fs.mkdir(p.a.p('p'));
  await fs.mkdir(p.a.p('q'));
  await fs.writeFile(p.a.p('p/in-p.txt'), 'p\n');
  await fs.writeFile(p.a.p('q/in-q.txt'), 'q\n');
  await settled(p.a);
  await waitFor('B to see both dirs', async () =>
    Promise.all([fs.stat(p.b.p('p/in-p.txt')), fs.stat(p.b.p('q/in-q.txt'))]).then(
      () => true,
      () => false,
    ),
  );
  await apart(async () => {
    await fs.rename(p.a.p('p'), p.a.p('q/p'));
    await fs.rename(p.b.p('q'), p.b.p('p/q'));
  });
  const tree = await converged(t, p);
  const files = names(tree).filter((n) => tree[n]?.kind === 'file');
  t.equal(files.length, 2, `both files still exist: ${files.join(', ')}`);
  t.ok(
    JSON.stringify(names(tree)) === JSON.stringify(['/p', '/p/in-p.txt', '/p/q', '/p/q/in-q.txt']) ||
      JSON.stringify(names(tree)) === JSON.stringify(['/q', '/q/in-q.txt', '/q/p', '/q/p/in-p.txt']),
    `one move applied: ${names(tree).join(', ')}`,
  );
});

t.test(
  'a change from another device: handles opened before keep their revision, a new open reads the new one',
  async (t) => {
    const p = await pair(t, 'reopen');
    const v1 = 'version one\n'.repeat(1000);
    const v2 = 'VERSION TWO, a little longer\n'.repeat(1000);
    await seed(p, 'doc.txt', v1);
    t.equal((await fs.stat(p.b.p('doc.txt'))).size, v1.length, 'B has looked at the old version');
    const old = await fs.open(p.b.p('doc.txt'), 'r');
    const untouched = await fs.open(p.b.p('doc.txt'), 'r'); // opened, not read before the change
    try {
      const head = Buffer.alloc(100);
      await old.read(head, 0, 100, 0);
      t.equal(head.toString(), v1.slice(0, 100), 'a handle on B reads the start of v1');
      await fs.writeFile(p.a.p('doc.txt'), v2);
      await settled(p.a);
      const from = Date.now();
      await waitFor(
        'B to read the new version on a new open',
        async () => (await fs.readFile(p.b.p('doc.txt'), 'utf8')) === v2,
        10_000,
        20,
      ).catch(async (err: Error) => {
        const now = await fs.readFile(p.b.p('doc.txt'), 'utf8');
        throw new Error(`${err.message}: B reads ${now.length} bytes: ${JSON.stringify(now.slice(0, 40))}`);
      });
      t.pass(
        `a new open read the whole new version (not the old size, not old pages), ${Date.now() - from} ms after the commit`,
      );
      const rest = Buffer.alloc(v2.length);
      const { bytesRead } = await old.read(rest, 0, rest.length, 0);
      t.equal(
        rest.subarray(0, bytesRead).toString(),
        v1,
        'the handle opened before reads all of v1, not pages of v2',
      );
      const unread = Buffer.alloc(v2.length);
      const r2 = await untouched.read(unread, 0, unread.length, 0);
      t.equal(unread.subarray(0, r2.bytesRead).toString(), v1, 'so does one opened before but never read');
    } finally {
      await old.close();
      await untouched.close();
    }
    t.equal(
      await fs.readFile(p.b.p('doc.txt'), 'utf8'),
      v2,
      'after it closed, an open reads v2 (no v1 page left behind)',
    );
  },
);

t.test('in the VFS: a handle opened before a remote change keeps its revision to the end', async (t) => {
  // Through a mount, Linux shares one page cache per file between all its handles, so an old handle
  // can see pages a newer handle brought in (README, SEMANTICS). The drive itself keeps the rule.
  const token = await server.addUser('vfs-snap');
  const api = new Api(server.url, token);
  const state = mkdtempSync(path.join(os.tmpdir(), 'loft-snap-'));
  const core = await openDriveCore({
    server: server.url,
    token,
    state,
    cacheBytes: 64 * MiB,
    log: silentLogger(),
  });
  t.teardown(async () => {
    await core.close();
    rmSync(state, { recursive: true, force: true });
  });
  const v1 = pseudoRandom(3 * MiB, 1);
  const v2 = pseudoRandom(5 * MiB, 2);
  const first = await api.writeFile('/snap.bin', [v1]);
  t.equal(first.status, 200);
  const sizeIs = (n: number) => async () => {
    try {
      return core.vfs.getattr('/snap.bin').size === n;
    } catch {
      return false; // not there yet
    }
  };
  await waitFor('the drive to see v1', sizeIs(v1.length));
  const fh = await core.vfs.open('/snap.bin', 0);
  const unread = await core.vfs.open('/snap.bin', 0); // its block list is not loaded before the change
  const head = Buffer.alloc(4096);
  await core.vfs.read(fh, head, 0);
  t.equal(sha256(head), sha256(v1.subarray(0, 4096)), 'the handle reads v1');
  const second = await api.writeFile('/snap.bin', [v2], first.body.rev as number);
  t.equal(second.status, 200, 'v2 committed elsewhere');
  await waitFor('the drive to see v2', sizeIs(v2.length));
  const all = Buffer.alloc(v1.length + 100);
  let got = 0;
  for (;;) {
    const n = await core.vfs.read(fh, all.subarray(got, Math.min(all.length, got + 128 * 1024)), got);
    if (n === 0) break;
    got += n;
  }
  t.equal(got, v1.length, 'the old handle still sees the old size');
  t.equal(sha256(all.subarray(0, got)), sha256(v1), 'and reads the old revision to the end');
  await core.vfs.release(fh);
  const lazy = Buffer.alloc(v1.length + 100);
  let got2 = 0;
  for (;;) {
    const n = await core.vfs.read(
      unread,
      lazy.subarray(got2, Math.min(lazy.length, got2 + 128 * 1024)),
      got2,
    );
    if (n === 0) break;
    got2 += n;
  }
  t.equal(sha256(lazy.subarray(0, got2)), sha256(v1), 'a handle opened before but first read after: v1 too');
  await core.vfs.release(unread);
  const fresh = await core.vfs.open('/snap.bin', 0);
  const now = Buffer.alloc(v2.length);
  let n2 = 0;
  while (n2 < now.length) {
    const n = await core.vfs.read(fresh, now.subarray(n2, Math.min(now.length, n2 + 128 * 1024)), n2);
    if (n === 0) break;
    n2 += n;
  }
  await core.vfs.release(fresh);
  t.equal(sha256(now.subarray(0, n2)), sha256(v2), 'a new open reads the new revision');
});
