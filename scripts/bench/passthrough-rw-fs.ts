// The ceiling for scripts/bench/write.mjs (lib/ceiling.ts mounts it with `program:
// PASSTHROUGH_RW`): the smallest writable fuse-native filesystem, a passthrough to a local
// directory (every write a pwrite on the JavaScript thread), mounted with exactly the -o options a
// fuse-native `loft mount` passes (lib/ceiling.ts imports them from the drive). getxattr is answered
// as Loft must answer it (Loft serves user.loft.*), so the kernel keeps asking for
// security.capability on writes, as it does with Loft.
//
// Usage: node scripts/bench/passthrough-rw-fs.mjs BACKING_DIR MOUNTPOINT [--opts o1,o2,…]
//   Prints "mounted MOUNTPOINT" on stdout when mounted; on SIGTERM/SIGINT prints
//   "ceiling stats {json}" (FUSE op counts and write sizes) on stderr, unmounts and exits.
// Environment:
//   LOFT_BENCH_CEILING_WRITE=async  write with fs.write on the libuv pool (as Loft's staging does)
//                                   instead of fs.writeSync on the JavaScript thread
import fs from 'node:fs';
import path from 'node:path';
import { loadFuseNative, type FuseNativeOps } from '../../src/client/fuse/fuse-native-fork.js';
import { CEILING_STATFS } from './lib/ceiling.js';
import { passthroughArgs } from './lib/cli.js';

const Fuse = loadFuseNative(); // Loft's fork (native/fuse-native/README.md), its ABI checked
const {
  dir: backing,
  mnt,
  fuseOpts,
} = await passthroughArgs(
  'usage: node scripts/bench/passthrough-rw-fs.mjs BACKING_DIR MOUNTPOINT [--opts o1,o2,…]',
);
const ASYNC_WRITE = process.env.LOFT_BENCH_CEILING_WRITE === 'async';

type Cb = (code: number, ...rest: unknown[]) => void;
const abs = (p: string): string => path.join(backing, p);
const E = (err: NodeJS.ErrnoException | null): number =>
  (Fuse[err?.code ?? 'EIO'] as number | undefined) ?? (Fuse.EIO as number);
const done =
  (cb: Cb) =>
  (err: NodeJS.ErrnoException | null): void =>
    cb(err ? E(err) : 0);
const counts: Record<string, number> = {};
const writeLens: Record<number, number> = {};
const count = (op: string): void => void (counts[op] = (counts[op] ?? 0) + 1);
const toStat = (st: fs.Stats) => ({
  mode: st.mode,
  uid: st.uid,
  gid: st.gid,
  size: st.size,
  dev: st.dev,
  nlink: st.nlink,
  rdev: st.rdev,
  blksize: st.blksize,
  ino: st.ino,
  blocks: st.blocks,
  atime: st.atime,
  mtime: st.mtime,
  ctime: st.ctime,
});

const ops: FuseNativeOps = {
  getattr(p: string, cb: Cb) {
    count('getattr');
    fs.lstat(abs(p), (err, st) => (err ? cb(E(err)) : cb(0, toStat(st))));
  },
  fgetattr(_p: string, fd: number, cb: Cb) {
    count('fgetattr');
    fs.fstat(fd, (err, st) => (err ? cb(E(err)) : cb(0, toStat(st))));
  },
  readdir(p: string, cb: Cb) {
    count('readdir');
    fs.readdir(abs(p), (err, names) => (err ? cb(E(err)) : cb(0, names)));
  },
  open(p: string, flags: number, cb: Cb) {
    count('open');
    fs.open(abs(p), flags & ~fs.constants.O_CREAT, (err, fd) => (err ? cb(E(err)) : cb(0, fd)));
  },
  // Loft's fork passes the caller's uid and gid to create, mkdir and symlink (unused here).
  create(p: string, mode: number, _caller: unknown, cb: Cb) {
    count('create');
    const flags = fs.constants.O_CREAT | fs.constants.O_RDWR | fs.constants.O_TRUNC;
    fs.open(abs(p), flags, mode & 0o7777, (err, fd) => (err ? cb(E(err)) : cb(0, fd)));
  },
  read(_p: string, fd: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void) {
    count('read');
    try {
      cb(fs.readSync(fd, buf, 0, len, pos));
    } catch (err) {
      cb(E(err as NodeJS.ErrnoException));
    }
  },
  write(_p: string, fd: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void) {
    count('write');
    writeLens[len] = (writeLens[len] ?? 0) + 1;
    if (ASYNC_WRITE) return fs.write(fd, buf, 0, len, pos, (err, n) => cb(err ? E(err) : n));
    try {
      cb(fs.writeSync(fd, buf, 0, len, pos));
    } catch (err) {
      cb(E(err as NodeJS.ErrnoException));
    }
  },
  flush(_p: string, _fd: number, cb: Cb) {
    count('flush');
    cb(0);
  },
  fsync(_p: string, _datasync: boolean, fd: number, cb: Cb) {
    count('fsync');
    fs.fsync(fd, done(cb));
  },
  release(_p: string, fd: number, cb: Cb) {
    count('release');
    fs.close(fd, () => cb(0));
  },
  truncate(p: string, size: number, cb: Cb) {
    count('truncate');
    fs.truncate(abs(p), size, done(cb));
  },
  ftruncate(_p: string, fd: number, size: number, cb: Cb) {
    count('ftruncate');
    fs.ftruncate(fd, size, done(cb));
  },
  unlink(p: string, cb: Cb) {
    fs.unlink(abs(p), done(cb));
  },
  rename(from: string, to: string, cb: Cb) {
    fs.rename(abs(from), abs(to), done(cb));
  },
  mkdir(p: string, mode: number, _caller: unknown, cb: Cb) {
    fs.mkdir(abs(p), { mode }, done(cb));
  },
  rmdir(p: string, cb: Cb) {
    fs.rmdir(abs(p), done(cb));
  },
  chmod(p: string, mode: number, cb: Cb) {
    fs.chmod(abs(p), mode, done(cb));
  },
  utimens(_p: string, _atime: unknown, _mtime: unknown, cb: Cb) {
    cb(0); // times are not part of this benchmark
  },
  getxattr(_p: string, name: string, _position: number, cb: Cb) {
    count('getxattr');
    cb(0, name === 'user.loft.state' ? Buffer.from('cached') : null);
  },
  listxattr(_p: string, cb: Cb) {
    count('listxattr');
    cb(0, ['user.loft.state']);
  },
  statfs(_p: string, cb: Cb) {
    cb(0, CEILING_STATFS);
  },
};

/** fuse-native has no flag for big_writes (and others): pass the option string ourselves. */
class RawOptionsFuse extends Fuse {
  override _fuseOptions(): string {
    const base = super._fuseOptions();
    const all = [...(base ? base.slice(2).split(',') : []), ...fuseOpts];
    return all.length ? `-o${all.join(',')}` : '';
  }
}
const fuse = new RawOptionsFuse(mnt, ops, {
  fsname: 'loft-bench-ceiling-rw',
  force: false,
  mkdir: false,
  timeout: { default: 15_000, fsync: 300_000, write: 60_000, release: 60_000 },
});

let closing = false;
function shutdown(): void {
  if (closing) return;
  closing = true;
  process.stderr.write(`ceiling stats ${JSON.stringify({ ops: counts, writeLens })}\n`);
  fuse.unmount((err) => {
    if (err) process.stderr.write(`ceiling: unmount: ${err.message}\n`);
    process.exit(err ? 1 : 0);
  });
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
fuse.mount((err) => {
  if (err) {
    process.stderr.write(`ceiling: mount failed: ${err.message}\n`);
    process.exit(1);
  }
  process.stdout.write(`mounted ${mnt} (-o ${fuseOpts.join(',')})\n`);
});
