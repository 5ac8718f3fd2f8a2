/**
 * The POSIX write conformance suite against the VFS in-process (no FUSE), backed by a real server
 * process. The adapter does what the kernel does before a call reaches the filesystem: turns open
 * flag strings into create/open/truncate calls, positions O_APPEND writes at the end, and refuses
 * reads on write-only handles.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import '../../helpers/exit-promptly.js';
import t from 'tap';
import { openDriveCore, type DriveCore } from '../../../src/client/client.js';
import { Mirror } from '../../../src/client/mirror/mirror.js';
import { S_IFDIR, S_IFLNK, S_IFREG, Vfs } from '../../../src/client/vfs/vfs.js';
import { FsError } from '../../../src/shared/errors.js';
import { silentLogger } from '../../../src/shared/log.js';
import { posixConformance, type WriteFs } from '../../conformance/posix-conformance.js';
import { Api } from '../../helpers/api.js';
import { serverFile, waitFor } from '../../helpers/devices.js';
import { ServerProcess } from '../../helpers/server-process.js';

const server = new ServerProcess();
const state = mkdtempSync(path.join(os.tmpdir(), 'loft-vfs-posix-'));
let core: DriveCore;
let api: Api;

t.before(async () => {
  await server.start();
  const token = await server.addUser('posix');
  api = new Api(server.url, token);
  core = await openDriveCore({
    server: server.url,
    token,
    state,
    cacheBytes: 64 * 1024 * 1024,
    log: silentLogger(),
  });
});
t.teardown(async () => {
  await core?.close();
  await server.dispose();
  rmSync(state, { recursive: true, force: true });
});

/** VFS errors carry the errno name as `code`, as node's fs errors do. */
async function errno<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof FsError) throw Object.assign(new Error(err.message), { code: err.errno });
    throw err;
  }
}

const O = { RDONLY: 0, WRONLY: 1, RDWR: 2, CREAT: 0o100, EXCL: 0o200, TRUNC: 0o1000, APPEND: 0o2000 };
const FLAGS: Record<string, number> = {
  r: O.RDONLY,
  'r+': O.RDWR,
  w: O.WRONLY | O.CREAT | O.TRUNC,
  'w+': O.RDWR | O.CREAT | O.TRUNC,
  wx: O.WRONLY | O.CREAT | O.EXCL,
  'wx+': O.RDWR | O.CREAT | O.EXCL,
  a: O.WRONLY | O.CREAT | O.APPEND,
  'a+': O.RDWR | O.CREAT | O.APPEND,
};

const handles = new Map<number, number>(); // fh → flags

const vfsAdapter = (): WriteFs => {
  const vfs = core.vfs;
  return {
    stat: (p) =>
      errno(() => {
        const st = vfs.getattr(p);
        const type = st.mode & 0o170000;
        return {
          size: st.size,
          isDir: type === S_IFDIR,
          isFile: type === S_IFREG,
          isSymlink: type === S_IFLNK,
          mode: st.mode,
          mtimeMs: st.mtime.getTime(),
          atimeMs: st.atime.getTime(),
          ctimeMs: st.ctime.getTime(),
          nlink: st.nlink,
          uid: st.uid,
          gid: st.gid,
        };
      }),
    readdir: (p) => errno(() => vfs.readdir(p).names.filter((n) => n !== '.' && n !== '..')),
    readFile: (p) =>
      errno(async () => {
        const fh = await vfs.open(p, O.RDONLY);
        try {
          const size = vfs.getattr(p).size;
          const out = Buffer.alloc(size);
          let got = 0;
          while (got < size) {
            const n = await vfs.read(fh, out.subarray(got), got);
            if (n === 0) break;
            got += n;
          }
          return out.subarray(0, got);
        } finally {
          await vfs.flush(fh);
          await vfs.release(fh);
        }
      }),
    open: (p, flagStr, mode = 0o644) =>
      errno(async () => {
        const flags = FLAGS[flagStr];
        if (flags === undefined) throw new Error(`adapter: unknown flags ${flagStr}`);
        let exists = true;
        try {
          vfs.getattr(p);
        } catch (err) {
          if (!(err instanceof FsError) || err.errno !== 'ENOENT') throw err;
          exists = false;
        }
        let fh: number;
        if (!exists && flags & O.CREAT) fh = await vfs.create(p, mode);
        else if (exists && flags & O.CREAT && flags & O.EXCL) throw new FsError('EEXIST', `${p} exists`);
        else fh = await vfs.open(p, flags);
        handles.set(fh, flags);
        return fh;
      }),
    write: (fh, data, offset) =>
      errno(async () => {
        const flags = handles.get(fh);
        if (flags === undefined || (flags & 3) === O.RDONLY)
          throw new FsError('EBADF', 'not open for writing');
        // The kernel positions O_APPEND writes at the end of the file.
        const at = flags & O.APPEND ? Number.MAX_SAFE_INTEGER : offset;
        return vfs.write(fh, data, at === Number.MAX_SAFE_INTEGER ? sizeOfHandle(fh) : at);
      }),
    read: (fh, length, offset) =>
      errno(async () => {
        const flags = handles.get(fh);
        if (flags === undefined || (flags & 3) === O.WRONLY)
          throw new FsError('EBADF', 'not open for reading');
        const out = Buffer.alloc(length);
        const n = await vfs.read(fh, out, offset);
        return out.subarray(0, n);
      }),
    ftruncate: (fh, size) => errno(() => vfs.ftruncate(fh, size)),
    fsync: (fh) => errno(() => vfs.fsync(fh)),
    close: (fh) =>
      errno(async () => {
        handles.delete(fh);
        await vfs.flush(fh);
        await vfs.release(fh);
      }),
    truncate: (p, size) => errno(() => vfs.truncate(p, size)),
    unlink: (p) => errno(() => vfs.unlink(p)),
    mkdir: (p, mode = 0o755) => errno(() => vfs.mkdir(p, mode)),
    rmdir: (p) => errno(() => vfs.rmdir(p)),
    rename: (from, to) => errno(() => vfs.rename(from, to)),
    chmod: (p, mode) => errno(() => vfs.chmod(p, mode)),
    utimes: (p, atime, mtime) =>
      errno(() => {
        const now = Date.now();
        const conv = (v: number | null | 'now') => (v === 'now' ? now : v);
        return vfs.utimens(p, conv(atime), conv(mtime));
      }),
    symlink: (target, p) => errno(() => vfs.symlink(target, p)),
    readlink: (p) => errno(() => vfs.readlink(p)),
    link: (from, to) => errno(() => vfs.link(from, to)),
    mknod: (p) => errno(() => vfs.mknod(p)),
    chown: (p, uid, gid) => errno(() => vfs.chown(p, uid, gid)),
  };
};

/** Current size of the file behind a handle (for O_APPEND). */
function sizeOfHandle(fh: number): number {
  return core.vfs.handleSize(fh);
}

posixConformance(t, 'Vfs in-process', vfsAdapter, '/posix');

/** Writes `data` to a new file through the VFS and waits until the server has it. */
async function committedFile(p: string, data: Buffer): Promise<number> {
  const fh = await core.vfs.create(p, 0o644);
  await core.vfs.write(fh, data, 0);
  await core.vfs.flush(fh);
  await core.vfs.release(fh);
  await waitFor(`${p} committed`, async () => core.mirror.pendingOps === 0 && core.vfs.dirty.count === 0);
  return core.mirror.lookup(p)!.serverId!;
}

/** Deletes the node on the server and returns its tombstone, as the journal would deliver it. */
async function deleteOnServer(id: number) {
  const node = (await api.get(`/v1/node?id=${id}`)).body;
  const del = await api.post('/v1/delete', { id, parentRev: node.rev });
  if (del.status !== 200) throw new Error(`delete: ${del.status} ${del.raw.toString()}`);
  return del.body.deleted;
}

t.test(
  'lookupStat: the stat of what is there, null for a missing name, ENAMETOOLONG as getattr',
  async (t) => {
    const vfs = core.vfs;
    await vfs.mkdir('/look', 0o755);
    const fh = await vfs.create('/look/here', 0o640);
    await vfs.release(fh);
    t.same(vfs.lookupStat('/look/here'), vfs.getattr('/look/here'), 'the same stat as getattr');
    t.equal(vfs.lookupStat('/look/missing'), null, 'a missing name: null, nothing thrown');
    t.equal(vfs.lookupStat('/nowhere/missing'), null, 'in a missing folder too');
    const long = '/look/' + 'x'.repeat(256);
    t.throws(() => vfs.lookupStat(long), /name too long/);
    t.throws(() => vfs.getattr(long), /name too long/, 'as getattr says');
  },
);

t.test('utimens with a fraction of a millisecond: kept in whole ms, and it reaches the server', async (t) => {
  const id = await committedFile('/frac-time.txt', Buffer.from('x'));
  const mtime = Date.UTC(2025, 5, 1, 12, 0, 0) + 0.75;
  await core.vfs.utimens('/frac-time.txt', mtime + 0.5, mtime);
  t.equal(core.vfs.getattr('/frac-time.txt').mtime.getTime(), Math.floor(mtime));
  await waitFor('the new mtime on the server', async () => {
    const node = (await api.get(`/v1/node?id=${id}`)).body as { mtime: number };
    return node.mtime === Math.floor(mtime);
  });
  t.same(core.mirror.stuckOps(), [], 'nothing set aside');
});

t.test('a truncate racing a remote delete: the truncate wins and nothing is left staged', async (t) => {
  const id = await committedFile('/race-trunc.txt', Buffer.alloc(3000, 7));
  const tombstones = await deleteOnServer(id);
  // The delete reaches the mirror while truncate(2) is making the staging (its first await).
  const truncating = core.vfs.truncate('/race-trunc.txt', 5);
  core.mirror.applyChanges(tombstones, core.mirror.cursor(), false);
  await truncating;
  t.equal(core.vfs.getattr('/race-trunc.txt').size, 5, 'the file is still here, truncated');
  const back = await waitFor('the file back on the server', async () => serverFile(api, '/race-trunc.txt'));
  t.same(back, Buffer.alloc(5, 7), 'the edit won: the server has the truncated file again');
  await waitFor('no staging left', async () => core.mirror.pendingOps === 0 && core.vfs.dirty.count === 0);
  t.equal(core.vfs.dirty.count, 0, 'no DirtyFile left behind');
});

t.test(
  'open for writing racing a remote delete, closed unwritten: the delete applies, no staging left',
  async (t) => {
    const id = await committedFile('/race-open.txt', Buffer.alloc(1000, 3));
    const key = core.mirror.keyOf(id)!;
    const tombstones = await deleteOnServer(id);
    const opening = core.vfs.open('/race-open.txt', O.RDWR);
    core.mirror.applyChanges(tombstones, core.mirror.cursor(), false);
    const fh = await opening;
    await core.vfs.flush(fh);
    await core.vfs.release(fh);
    t.equal(core.vfs.dirty.count, 0, 'the unused staging went with the close');
    t.equal(core.mirror.node(key)?.staging ?? null, null, 'the node records no staging');
    await waitFor('the delete applied here', async () => !core.mirror.lookup('/race-open.txt'));
    t.equal(await serverFile(api, '/race-open.txt'), null, 'still deleted on the server');
  },
);

t.test('open for writing and closed unwritten: the node is clean again', async (t) => {
  const id = core.mirror.keyOf(await committedFile('/unwritten.txt', Buffer.alloc(100, 1)))!;
  const fh = await core.vfs.open('/unwritten.txt', O.RDWR);
  t.equal(core.vfs.dirty.count, 1);
  await core.vfs.flush(fh);
  await core.vfs.release(fh);
  t.equal(core.vfs.dirty.count, 0, 'no DirtyFile');
  t.equal(core.mirror.node(id)?.staging, null, 'no staging recorded');
  t.equal(core.mirror.pendingOps, 0, 'nothing queued');
});

t.test('chown as an ordinary mount owner: its own ids and groups only (EPERM otherwise)', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'loft-vfs-chown-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const mirror = new Mirror(path.join(dir, 'mirror.db'));
  t.teardown(() => mirror.close());
  mirror.initialize({ server: 'http://x', user: 'u', ns: 1, rootId: 1 });
  mirror.createLocal(1, 'f', 'file', 0o644, 1_000, '/f', null);
  // chown touches only the mirror: the other parts are never called.
  const unused = {} as never;
  const vfs = new Vfs({
    mirror,
    hydrator: unused,
    cache: unused,
    pinner: unused,
    stagingDir: path.join(dir, 'staging'),
    uid: 1000,
    gid: 1000,
    groups: [1000, 27],
  });
  const code = (uid: number, gid: number) =>
    vfs.chown('/f', uid, gid).then(
      () => 'OK',
      (err: FsError) => err.errno,
    );
  t.equal(await code(1000, 1000), 'OK', 'to its own uid and gid');
  t.equal(await code(-1, -1), 'OK', 'nothing changed');
  t.equal(await code(0xffffffff, 0xffffffff), 'OK', '-1 as the binding passes it (unsigned)');
  t.equal(await code(-1, 27), 'OK', 'chgrp to a group it is in');
  t.equal(await code(1000, 27), 'OK', 'its uid and one of its groups');
  t.equal(await code(0, -1), 'EPERM', 'giving the file to root');
  t.equal(await code(1001, 1000), 'EPERM', 'giving the file to another user');
  t.equal(await code(-1, 5678), 'EPERM', 'chgrp to a group it is not in');
  t.equal(await code(-1, 0), 'EPERM', 'chgrp to root');
  const missing = await vfs.chown('/missing', 1000, 1000).catch((err: FsError) => err.errno);
  t.equal(missing, 'ENOENT', 'a missing file');
  t.same([vfs.getattr('/f').uid, vfs.getattr('/f').gid], [1000, 27], 'stat shows the last accepted chgrp');
  t.equal(await code(1000, 1000), 'OK', 'back to its own group');
  // Another caller reaches the Vfs only through --allow-other, where the kernel checks chown.
  const root = { uid: 0, gid: 0 };
  mirror.createLocal(1, 'g', 'file', 0o644, 1_000, '/g', null);
  t.same([vfs.getattr('/g').uid, vfs.getattr('/g').gid], [1000, 1000], 'a new node: the mount owner');
  await vfs.chown('/g', 2000, 27, root);
  t.same([vfs.getattr('/g').uid, vfs.getattr('/g').gid], [2000, 27], 'root gave /g to 2000 (stored)');
  t.equal(await code(-1, -1), 'OK', '/f unchanged');
  t.equal(
    await vfs.chown('/g', -1, 1000).then(
      () => 'OK',
      (err: FsError) => err.errno,
    ),
    'EPERM',
    'the mount owner no longer owns /g',
  );
  await vfs.chown('/g', 1000, -1, root);
  t.same([vfs.getattr('/g').uid, vfs.getattr('/g').gid], [1000, 27], 'back to the mount owner, group kept');
  const again = new Vfs({
    mirror,
    hydrator: unused,
    cache: unused,
    pinner: unused,
    stagingDir: dir,
    uid: 1000,
    gid: 1000,
  });
  t.same([again.getattr('/g').uid, again.getattr('/g').gid], [1000, 27], 'kept across a remount');
  t.same([again.getattr('/f').uid, again.getattr('/f').gid], [1000, 1000], 'the default is not stored');
});
