/** The POSIX write conformance suite through a real FUSE mount of a real `loft mount` process. */
import { execFile } from 'node:child_process';
import fs, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { posixConformance, type WriteFs } from '../conformance/posix-conformance.js';
import { MountProcess } from '../helpers/mount-process.js';
import { ServerProcess } from '../helpers/server-process.js';

const execFileP = promisify(execFile);
const server = new ServerProcess();
let m: MountProcess;
const handles = new Map<number, FileHandle>();

t.before(async () => {
  await server.start();
  const token = await server.addUser('posix');
  m = new MountProcess(server.url, token, { cacheSize: '64M' });
  await m.start();
});
t.teardown(async () => {
  // Handles left open by a failed case would keep the mount busy.
  for (const h of handles.values()) await h.close().catch(() => undefined);
  handles.clear();
  await m?.dispose();
  await server.dispose();
});

const at = (p: string) => path.join(m.mountpoint, p);

/** strerror texts (LC_ALL=C) of the commands we run, back to errno names. */
const STRERROR: [RegExp, string][] = [
  [/Operation not permitted/, 'EPERM'],
  [/Operation not supported/, 'ENOTSUP'],
  [/Permission denied/, 'EACCES'],
  [/No such file or directory/, 'ENOENT'],
  [/File exists/, 'EEXIST'],
  [/Not a directory/, 'ENOTDIR'],
  [/Is a directory/, 'EISDIR'],
  [/File name too long/, 'ENAMETOOLONG'],
  [/Read-only file system/, 'EROFS'],
  [/Function not implemented/, 'ENOSYS'],
  [/Invalid argument/, 'EINVAL'],
];

/** Runs a command; a failure is rethrown with `code` = the errno name its message names. */
async function run(cmd: string, args: string[]): Promise<void> {
  try {
    await execFileP(cmd, args, { env: { ...process.env, LC_ALL: 'C' } });
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? '').trim();
    const code = STRERROR.find(([re]) => re.test(stderr))?.[1] ?? 'EIO';
    throw Object.assign(new Error(`${cmd} ${args.join(' ')}: ${stderr}`), { code });
  }
}

function handle(fh: number): FileHandle {
  const h = handles.get(fh);
  if (!h) throw Object.assign(new Error(`no open handle ${fh}`), { code: 'EBADF' });
  return h;
}

/** `touch -d` wants seconds since the epoch. */
const touchTime = (ms: number) => `@${(ms / 1000).toFixed(3)}`;

async function utimes(p: string, atime: number | null | 'now', mtime: number | null | 'now'): Promise<void> {
  const file = at(p);
  if (atime !== null && mtime !== null) {
    const s = (v: number | 'now') => (v === 'now' ? Date.now() : v) / 1000;
    return fs.utimes(file, s(atime), s(mtime));
  }
  // node cannot send UTIME_OMIT: touch -a / -m change one time and omit the other.
  await fs.lstat(file); // ENOENT as utimensat would (touch -c would silently succeed)
  if (atime === null && mtime === null) return;
  const [flag, v] = atime === null ? ['-m', mtime!] : ['-a', atime];
  await run('touch', ['-c', flag, ...(v === 'now' ? [] : ['-d', touchTime(v)]), file]);
}

const mountAdapter = (): WriteFs => ({
  stat: async (p) => {
    const st = await fs.lstat(at(p));
    return {
      size: st.size,
      isDir: st.isDirectory(),
      isFile: st.isFile(),
      isSymlink: st.isSymbolicLink(),
      mode: st.mode,
      mtimeMs: st.mtimeMs,
      atimeMs: st.atimeMs,
      ctimeMs: st.ctimeMs,
      nlink: st.nlink,
      uid: st.uid,
      gid: st.gid,
    };
  },
  readdir: (p) => fs.readdir(at(p)),
  readFile: (p) => fs.readFile(at(p)),
  open: async (p, flags, mode) => {
    const h = await fs.open(at(p), flags, mode);
    handles.set(h.fd, h);
    return h.fd;
  },
  write: async (fh, data, offset) => (await handle(fh).write(data, 0, data.length, offset)).bytesWritten,
  read: async (fh, length, offset) => {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await handle(fh).read(buf, 0, length, offset);
    return buf.subarray(0, bytesRead);
  },
  ftruncate: (fh, size) => handle(fh).truncate(size),
  fsync: (fh) => handle(fh).sync(),
  close: async (fh) => {
    const h = handle(fh);
    handles.delete(fh);
    await h.close();
  },
  truncate: (p, size) => fs.truncate(at(p), size),
  unlink: (p) => fs.unlink(at(p)),
  mkdir: async (p, mode) => {
    await fs.mkdir(at(p), mode);
  },
  rmdir: (p) => fs.rmdir(at(p)),
  rename: (from, to) => fs.rename(at(from), at(to)),
  chmod: (p, mode) => fs.chmod(at(p), mode),
  utimes,
  symlink: (target, p) => fs.symlink(target, at(p)),
  readlink: (p) => fs.readlink(at(p)),
  link: (existing, newPath) => fs.link(at(existing), at(newPath)),
  mknod: (p) => run('mkfifo', [at(p)]),
  chown: (p, uid, gid) => fs.chown(at(p), uid, gid),
});

posixConformance(t, 'FUSE mount', mountAdapter, '/posix');
