/**
 * The POSIX write conformance suite against the VFS in-process (no FUSE), backed by a real server
 * process. The adapter does what the kernel does before a call reaches the filesystem: turns open
 * flag strings into create/open/truncate calls, positions O_APPEND writes at the end, and refuses
 * reads on write-only handles.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { openDriveCore, type DriveCore } from '../../../src/client/client.js';
import { S_IFDIR, S_IFLNK, S_IFREG } from '../../../src/client/vfs/vfs.js';
import { FsError } from '../../../src/shared/errors.js';
import { silentLogger } from '../../../src/shared/log.js';
import { posixConformance, type WriteFs } from '../../conformance/posix-conformance.js';
import { ServerProcess } from '../../helpers/server-process.js';

const server = new ServerProcess();
const state = mkdtempSync(path.join(os.tmpdir(), 'loft-vfs-posix-'));
let core: DriveCore;

t.before(async () => {
  await server.start();
  const token = await server.addUser('posix');
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
          ctimeMs: st.ctime.getTime(),
          nlink: st.nlink,
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
  };
};

/** Current size of the file behind a handle (for O_APPEND). */
function sizeOfHandle(fh: number): number {
  return core.vfs.handleSize(fh);
}

posixConformance(t, 'Vfs in-process', vfsAdapter, '/posix');
