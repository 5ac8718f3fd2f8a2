// The ceiling for scripts/bench/drive.mjs (lib/ceiling.ts mounts it): the smallest fuse-native filesystem that can serve the
// benchmark's data. Read-only; the tree (names + stats) is loaded into memory at start-up, file
// reads go straight from a local file (page cache) into the buffer libfuse hands us. Whatever Loft
// adds on top (mirror lookups, cache, hashing, network) can only be slower than this, as long as it
// mounts with the same options and runs on the same binding.
//
// Usage: node scripts/bench/passthrough-fs.mjs SRC_DIR MOUNTPOINT [--opts big_writes,attr_timeout=10,…]
//   Prints "mounted MOUNTPOINT" on stdout when the kernel has answered FUSE INIT; unmounts and exits
//   on SIGTERM/SIGINT (printing "passthrough stats {json}" on stderr first).
// Environment:
//   PASSTHROUGH_READ_STATS=1  count FUSE ops and the `len` of every read request (histogram).
//   PASSTHROUGH_XATTR=0       do not implement getxattr/listxattr (default: implement them the
//                             way Loft must, answering user.loft.* like a cached file would; with
//                             Loft's fork of fuse-native, other names are answered EOPNOTSUPP in C,
//                             as for Loft, and GNU `ls -l` stops asking after the first file).
//   PASSTHROUGH_READ=async    read with fs.read on the libuv pool instead of fs.readSync on the JS
//                             thread (default sync: a page-cache hit is a memcpy, the pool hop costs
//                             more than it saves).
import fs from 'node:fs';
import path from 'node:path';
import { loadFuseNative, type FuseNativeOps } from '../../src/client/fuse/fuse-native-fork.js';
import { CEILING_STATFS } from './lib/ceiling.js';
import { passthroughArgs } from './lib/cli.js';

const Fuse = loadFuseNative(); // Loft's fork (native/fuse-native/README.md), its ABI checked
const errno = (name: string): number => Fuse[name] as number;
const ENOENT = errno('ENOENT');
const ENOTDIR = errno('ENOTDIR');
const EROFS = errno('EROFS');
const EIO = errno('EIO');
const EBADF = errno('EBADF');

const {
  dir: srcDir,
  mnt,
  fuseOpts,
} = await passthroughArgs('usage: node scripts/bench/passthrough-fs.mjs SRC_DIR MOUNTPOINT [--opts o1,o2,…]');
const STATS = process.env.PASSTHROUGH_READ_STATS === '1';
const XATTR = process.env.PASSTHROUGH_XATTR !== '0';
const ASYNC_READ = process.env.PASSTHROUGH_READ === 'async';
/**
 * Loft's fork of fuse-native (native/fuse-native) reads kernel caching flags from the handle
 * number; Loft keeps the page cache of an unchanged file across opens with keep_cache (bit 29).
 * The data here never changes, so every handle keeps it.
 */
const KEEP_CACHE = Fuse.binding.loft_open_flags === 1 ? 2 ** 29 : 0;

// ---- the tree, in memory -----------------------------------------------------------------------

interface Stat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  blksize: number;
  blocks: number;
  atime: Date;
  mtime: Date;
  ctime: Date;
}
interface Node {
  stat: Stat;
  abs: string;
  /** Directories: the children's names (sorted) and stats. */
  names?: string[];
  stats?: Stat[];
}
/** path ('/a/b') → its node */
const tree = new Map<string, Node>();
function load(rel: string): Node {
  const abs = path.join(srcDir, rel);
  const st = fs.statSync(abs);
  const stat = {
    mode: st.mode,
    uid: process.getuid!(),
    gid: process.getgid!(),
    size: st.size,
    nlink: st.isDirectory() ? 2 : 1,
    blksize: 4096,
    blocks: Math.ceil(st.size / 512),
    atime: st.mtime,
    mtime: st.mtime,
    ctime: st.mtime,
  };
  const node: Node = { stat, abs };
  tree.set(rel, node);
  if (st.isDirectory()) {
    node.names = fs.readdirSync(abs).sort();
    node.stats = node.names.map((n) => load(rel === '/' ? `/${n}` : `${rel}/${n}`).stat);
  }
  return node;
}
load('/');

// ---- ops ---------------------------------------------------------------------------------------

type Cb = (code: number, ...rest: unknown[]) => void;
const counts: Record<string, number> = {}; // op → calls
const readLens: Record<number, number> = {}; // read len → calls
const count = STATS ? (op: string) => (counts[op] = (counts[op] ?? 0) + 1) : () => {};
const handles = new Map<number, number>(); // fuse fd → local fd
let nextHandle = 1;
const XATTRS: Record<string, string> = { 'user.loft.state': 'cached', 'user.loft.rev': '1' };

const ops: FuseNativeOps = {
  getattr(p: string, cb: Cb) {
    count('getattr');
    const node = tree.get(p);
    if (!node) return cb(ENOENT);
    cb(0, node.stat);
  },
  fgetattr(p: string, _fd: number, cb: Cb) {
    count('fgetattr');
    const node = tree.get(p);
    if (!node) return cb(ENOENT);
    cb(0, node.stat);
  },
  opendir(p: string, _flags: number, cb: Cb) {
    count('opendir');
    cb(tree.get(p)?.names ? 0 : ENOTDIR, 0);
  },
  readdir(p: string, cb: Cb) {
    count('readdir');
    const node = tree.get(p);
    if (!node?.names) return cb(ENOTDIR);
    cb(0, node.names, node.stats);
  },
  open(p: string, flags: number, cb: Cb) {
    count('open');
    const node = tree.get(p);
    if (!node) return cb(ENOENT);
    if ((flags & 3) !== fs.constants.O_RDONLY) return cb(EROFS);
    fs.open(node.abs, 'r', (err, fd) => {
      if (err) return cb(EIO);
      const h = nextHandle++;
      handles.set(h, fd);
      cb(0, h | KEEP_CACHE);
    });
  },
  read(_p: string, h: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void) {
    if (STATS) {
      count('read');
      readLens[len] = (readLens[len] ?? 0) + 1;
    }
    const fd = handles.get(h);
    if (fd === undefined) return cb(EBADF);
    if (ASYNC_READ) return fs.read(fd, buf, 0, len, pos, (err, n) => cb(err ? EIO : n));
    try {
      cb(fs.readSync(fd, buf, 0, len, pos));
    } catch {
      cb(EIO);
    }
  },
  release(_p: string, h: number, cb: Cb) {
    count('release');
    const fd = handles.get(h);
    handles.delete(h);
    if (fd === undefined) return cb(0);
    fs.close(fd, () => cb(0));
  },
  statfs(_p: string, cb: Cb) {
    count('statfs');
    cb(0, CEILING_STATFS);
  },
};
if (XATTR) {
  ops.getxattr = (p: string, name: string, _position: number, cb: Cb) => {
    count('getxattr');
    const node = tree.get(p);
    if (!node) return cb(ENOENT);
    const v = XATTRS[name];
    cb(0, v === undefined ? null : Buffer.from(v)); // null → ENODATA in fuse-native
  };
  ops.listxattr = (p: string, cb: Cb) => {
    count('listxattr');
    cb(tree.has(p) ? 0 : ENOENT, Object.keys(XATTRS));
  };
}

/** fuse-native has no flag for big_writes (and others): pass the option string ourselves. */
class RawOptionsFuse extends Fuse {
  override _fuseOptions(): string {
    const base = super._fuseOptions(); // '' or '-oa,b'
    const all = [...(base ? base.slice(2).split(',') : []), ...fuseOpts];
    return all.length ? `-o${all.join(',')}` : '';
  }
}

// Reads that hydrate in Loft get a long timeout; here nothing takes long, keep the default (15 s).
const fuse = new RawOptionsFuse(mnt, ops, { fsname: 'loft-bench-passthrough', force: false, mkdir: false });

let closing = false;
function shutdown(code: number): void {
  if (closing) return;
  closing = true;
  if (STATS) process.stderr.write(`passthrough stats ${JSON.stringify({ ops: counts, readLens })}\n`);
  fuse.unmount((err) => {
    if (err) process.stderr.write(`passthrough: unmount: ${err.message}\n`);
    for (const fd of handles.values()) fs.closeSync(fd);
    process.exit(err ? 1 : code);
  });
}
process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));

fuse.mount((err) => {
  if (err) {
    process.stderr.write(`passthrough: mount failed: ${err.message}\n`);
    process.exit(1);
  }
  process.stdout.write(`mounted ${mnt} (-o ${fuseOpts.join(',')})\n`);
});
