/**
 * Differential POSIX test: the same operations and the same tools run on a real drive (a `loft
 * mount` against a real `loft serve`) and on a local directory under /tmp (ext4 here), and what
 * they answer is compared: exit codes, errno names, the stat fields the drive claims to keep (type,
 * permission bits, size, mtime, atime where set, folder link counts), symlink targets and file
 * contents. Every divergence is a named failing assertion. The features the drive does not have
 * (hard links, FIFOs, device nodes, sockets, user xattrs) are checked against the errno the README
 * promises instead. Ownership is accepted and not kept (README "The drive: semantics"): the drive
 * always shows the mount owner, so uid/gid are checked against that claim, not against the local
 * copy.
 *
 * The system calls run in one python3 process per side (it names errnos exactly, sends negative
 * sizes and UTIME_OMIT, and runs them in the same order); tools run as child processes with LC_ALL=C.
 * Runs as root (the tools then preserve ownership, which is what issue 19 was about).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { Devices, settled, waitFor, type Device } from '../helpers/devices.js';
import { pseudoRandom } from '../helpers/fixtures.js';
import type { MountProcess } from '../helpers/mount-process.js';
import { runLoft, ServerProcess } from '../helpers/server-process.js';

const execFileP = promisify(execFile);

const server = new ServerProcess();
const devices = new Devices(server);
let dev: Device;
let a: MountProcess;
let b: MountProcess;
let local: string;
let scratch: string;
const UID = process.getuid!();
/** Ids no account here has (tar archives and chown use them). */
const OTHER_UID = 1234;
const OTHER_GID = 5678;

t.before(async () => {
  if (UID !== 0) throw new Error('drive-posix-diff runs as root (tools preserve ownership only then)');
  await server.start();
  dev = await devices.newUser('diff');
  a = devices.mount(t, dev);
  await a.start();
  b = devices.mount(t, await devices.otherDevice(dev, 'diff-desktop'));
  await b.start();
  local = await fs.mkdtemp(path.join(os.tmpdir(), 'loft-diff-local-'));
  scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'loft-diff-scratch-'));
});
t.teardown(async () => {
  await devices.dispose();
  await server.dispose();
  for (const d of [local, scratch]) if (d) await fs.rm(d, { recursive: true, force: true });
});

// ---- system calls -----------------------------------------------------------------------------------

/**
 * Each case is a generator: it builds its fixture under its own folder, yields, then makes the
 * call and returns what it observed. All fixtures are built first, then one pause of PAUSE_S, then
 * all calls: a time that moved is then later than its fixture by far more than any clock's grain
 * (ext4 stamps with the kernel's coarse clock), without a sleep per case.
 */
const SYSCALLS_PY = String.raw`
import errno, json, os, socket, stat, sys, time
root = sys.argv[1]
OTHER_UID, OTHER_GID = int(sys.argv[2]), int(sys.argv[3])
PAUSE_S = 0.1
os.makedirs(root)

def code(fn):
    try:
        fn()
        return 'OK'
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))

def put(p, data=b'x'):
    with open(p, 'wb') as f:
        f.write(data)

def st(p):
    return os.lstat(p)

ms = lambda ns: ns // 1_000_000
A_NS = 1_600_000_000_123_000_000   # whole milliseconds: the drive keeps ms
M_NS = 1_500_000_000_456_000_000

def moved(before, after):
    return {'mtime moved': after.st_mtime_ns > before.st_mtime_ns, 'ctime moved': after.st_ctime_ns > before.st_ctime_ns}

cases = {}
def case(fn):
    cases[fn.__name__] = fn
    return fn

# -- errors the kernel or the file system gives --
@case
def open_excl_on_existing_name(d):
    put(d + '/f'); yield
    return {'errno': code(lambda: os.close(os.open(d + '/f', os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)))}

@case
def open_excl_on_existing_dir(d):
    os.mkdir(d + '/x'); yield
    return {'errno': code(lambda: os.close(os.open(d + '/x', os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)))}

@case
def rename_dir_onto_nonempty_dir(d):
    os.mkdir(d + '/a'); os.mkdir(d + '/b'); put(d + '/b/x'); yield
    return {'errno': code(lambda: os.rename(d + '/a', d + '/b')), 'target kept': os.listdir(d + '/b')}

@case
def rename_dir_onto_empty_dir(d):
    os.mkdir(d + '/a'); put(d + '/a/x'); os.mkdir(d + '/b'); yield
    return {'errno': code(lambda: os.rename(d + '/a', d + '/b')), 'names': sorted(os.listdir(d)), 'inside': os.listdir(d + '/b')}

@case
def rename_dir_onto_file(d):
    os.mkdir(d + '/a'); put(d + '/f'); yield
    return {'errno': code(lambda: os.rename(d + '/a', d + '/f'))}

@case
def rename_file_onto_dir(d):
    os.mkdir(d + '/a'); put(d + '/f'); yield
    return {'errno': code(lambda: os.rename(d + '/f', d + '/a'))}

@case
def rename_dir_into_own_child(d):
    os.makedirs(d + '/a/c'); yield
    return {'errno': code(lambda: os.rename(d + '/a', d + '/a/c/x')), 'self': code(lambda: os.rename(d + '/a', d + '/a/y'))}

@case
def rename_onto_itself(d):
    put(d + '/f'); yield
    return {'errno': code(lambda: os.rename(d + '/f', d + '/f'))}

@case
def rmdir_nonempty(d):
    os.mkdir(d + '/a'); put(d + '/a/x'); yield
    return {'errno': code(lambda: os.rmdir(d + '/a'))}

@case
def rmdir_file(d):
    put(d + '/f'); yield
    return {'errno': code(lambda: os.rmdir(d + '/f'))}

@case
def unlink_dir(d):
    os.mkdir(d + '/a'); yield
    return {'errno': code(lambda: os.unlink(d + '/a'))}

@case
def mkdir_over_symlink(d):
    os.symlink('nowhere', d + '/dangling'); os.mkdir(d + '/dir'); os.symlink('dir', d + '/todir'); yield
    return {'dangling': code(lambda: os.mkdir(d + '/dangling')), 'to dir': code(lambda: os.mkdir(d + '/todir'))}

@case
def names_of_256_bytes(d):
    yield
    n255, n256 = 'a' * 255, 'a' * 256
    u256 = '\u00e9' * 128
    return {
        'create 256': code(lambda: put(d + '/' + n256)),
        'create 256 utf-8': code(lambda: put(d + '/' + u256)),
        'mkdir 256': code(lambda: os.mkdir(d + '/' + n256)),
        'stat 256': code(lambda: os.lstat(d + '/' + n256)),
        'symlink 256': code(lambda: os.symlink('t', d + '/' + n256)),
        'create 255': code(lambda: put(d + '/' + n255)),
        'rename to 256': code(lambda: os.rename(d + '/' + n255, d + '/' + n256)),
        'names': sorted(os.listdir(d)),
    }

@case
def paths_of_4096_bytes(d):
    yield
    long = d + '/' + '/'.join(['p' * 250] * 17)   # > 4096 bytes
    return {'create': code(lambda: put(long)), 'stat': code(lambda: os.lstat(long)), 'mkdir': code(lambda: os.mkdir(long))}

@case
def truncate_negative(d):
    put(d + '/f', b'abc'); yield
    return {'errno': code(lambda: os.truncate(d + '/f', -1)), 'size': st(d + '/f').st_size}

@case
def truncate_past_the_largest_file(d):
    put(d + '/f', b'abc'); yield
    return {'2^50': code(lambda: os.truncate(d + '/f', 2 ** 50)), '2^63-1': code(lambda: os.truncate(d + '/f', 2 ** 63 - 1)), 'size': st(d + '/f').st_size}

@case
def write_past_the_largest_file(d):
    put(d + '/f', b'abc'); yield
    fd = os.open(d + '/f', os.O_WRONLY)
    try:
        r = code(lambda: os.pwrite(fd, b'z', 2 ** 50))
    finally:
        os.close(fd)
    return {'errno': r, 'size': st(d + '/f').st_size}

@case
def ftruncate_read_only_descriptor(d):
    put(d + '/f', b'abc'); yield
    fd = os.open(d + '/f', os.O_RDONLY)
    try:
        r = code(lambda: os.ftruncate(fd, 1))
    finally:
        os.close(fd)
    return {'errno': r, 'size': st(d + '/f').st_size}

@case
def open_dir_for_writing(d):
    os.mkdir(d + '/a'); yield
    return {'errno': code(lambda: os.open(d + '/a', os.O_WRONLY))}

# -- ownership (the caller is root) --
@case
def chown_to_the_owner(d):
    put(d + '/f'); os.symlink('f', d + '/l'); yield
    b = st(d + '/f')
    r = {'chown': code(lambda: os.chown(d + '/f', os.getuid(), os.getgid())),
         'unchanged ids': code(lambda: os.chown(d + '/f', -1, -1)),
         'lchown': code(lambda: os.lchown(d + '/l', os.getuid(), os.getgid()))}
    r['ctime moved'] = st(d + '/f').st_ctime_ns > b.st_ctime_ns
    return r

@case
def chown_to_other_ids_as_root(d):
    put(d + '/f'); os.mkdir(d + '/dir'); yield
    return {'file': code(lambda: os.chown(d + '/f', OTHER_UID, OTHER_GID)),
            'group only': code(lambda: os.chown(d + '/f', -1, OTHER_GID)),
            'dir': code(lambda: os.chown(d + '/dir', OTHER_UID, OTHER_GID))}

@case
def chown_clears_setuid(d):
    put(d + '/f'); os.chmod(d + '/f', 0o6755); yield
    os.chown(d + '/f', os.getuid(), os.getgid())
    return {'mode': oct(stat.S_IMODE(st(d + '/f').st_mode))}

# -- times --
@case
def utimensat_separate_atime_and_mtime(d):
    put(d + '/f'); os.mkdir(d + '/dir'); os.symlink('f', d + '/l'); yield
    os.utime(d + '/f', ns=(A_NS, M_NS))
    os.utime(d + '/dir', ns=(A_NS, M_NS))
    os.utime(d + '/l', ns=(A_NS, M_NS), follow_symlinks=False)
    return {p: [ms(st(d + p).st_atime_ns), ms(st(d + p).st_mtime_ns)] for p in ['/f', '/dir', '/l']}

@case
def utime_now(d):
    put(d + '/f'); os.utime(d + '/f', ns=(A_NS, M_NS)); yield
    t0 = time.time_ns() - 1_000_000_000
    os.utime(d + '/f')
    t1 = time.time_ns() + 1_000_000_000
    s = st(d + '/f')
    return {'atime is now': t0 <= s.st_atime_ns <= t1, 'mtime is now': t0 <= s.st_mtime_ns <= t1}

# ctime: every change moves it; mtime: only content changes.
def changes_ctime(name, act, content=False):
    def fn(d):
        put(d + '/f', b'0123456789'); os.utime(d + '/f', ns=(A_NS, M_NS)); yield
        b = st(d + '/f'); act(d); a = st(d + '/g' if os.path.exists(d + '/g') else d + '/f')
        return moved(b, a)
    fn.__name__ = 'ctime_after_' + name
    case(fn)

def write(d):
    fd = os.open(d + '/f', os.O_WRONLY)
    os.pwrite(fd, b'ab', 3)
    os.close(fd)

changes_ctime('chmod', lambda d: os.chmod(d + '/f', 0o600))
changes_ctime('chown', lambda d: os.chown(d + '/f', os.getuid(), os.getgid()))
changes_ctime('utimensat', lambda d: os.utime(d + '/f', ns=(A_NS, M_NS + 1_000_000)))
changes_ctime('write', write)
changes_ctime('truncate', lambda d: os.truncate(d + '/f', 4))
changes_ctime('rename', lambda d: os.rename(d + '/f', d + '/g'))

# A folder's mtime and ctime move when an entry is created, removed or renamed in it.
def changes_dir(name, setup, act, dirs):
    def fn(d):
        os.mkdir(d + '/in'); os.mkdir(d + '/other'); setup(d)
        for x in ('/in', '/other'):
            os.utime(d + x, ns=(A_NS, M_NS))
        yield
        b = {x: st(d + x) for x in dirs}
        act(d)
        return {x: moved(b[x], st(d + x)) for x in dirs}
    fn.__name__ = 'folder_times_after_' + name
    case(fn)

nothing = lambda d: None
changes_dir('create', nothing, lambda d: put(d + '/in/new'), ['/in'])
changes_dir('mkdir', nothing, lambda d: os.mkdir(d + '/in/sub'), ['/in'])
changes_dir('symlink', nothing, lambda d: os.symlink('t', d + '/in/l'), ['/in'])
changes_dir('unlink', lambda d: put(d + '/in/f'), lambda d: os.unlink(d + '/in/f'), ['/in'])
changes_dir('rmdir', lambda d: os.mkdir(d + '/in/sub'), lambda d: os.rmdir(d + '/in/sub'), ['/in'])
changes_dir('rename_within', lambda d: put(d + '/in/f'), lambda d: os.rename(d + '/in/f', d + '/in/g'), ['/in'])
changes_dir('rename_across', lambda d: put(d + '/in/f'), lambda d: os.rename(d + '/in/f', d + '/other/f'), ['/in', '/other'])
changes_dir('write_in_a_file', lambda d: put(d + '/in/f'), lambda d: put(d + '/in/f', b'more'), ['/in'])

@case
def folder_link_count(d):
    for x in ('a', 'b', 'c'):
        os.mkdir(d + '/' + x)
    put(d + '/f'); os.symlink('a', d + '/l'); os.mkdir(d + '/elsewhere'); yield
    r = {'3 subfolders': st(d).st_nlink, 'leaf': st(d + '/a').st_nlink, 'file': st(d + '/f').st_nlink}
    os.rmdir(d + '/a')
    r['after rmdir'] = st(d).st_nlink
    os.rename(d + '/b', d + '/elsewhere/b')
    r['after moving one out'] = st(d).st_nlink
    r['its new parent'] = st(d + '/elsewhere').st_nlink
    return r

# -- what the drive does not have: its errno, next to the local one --
@case
def unsupported_hard_link(d):
    put(d + '/f'); yield
    return {'errno': code(lambda: os.link(d + '/f', d + '/g')), 'left behind': os.path.lexists(d + '/g')}

@case
def unsupported_fifo(d):
    yield
    return {'errno': code(lambda: os.mkfifo(d + '/p')), 'left behind': os.path.lexists(d + '/p')}

@case
def unsupported_device_node(d):
    yield
    return {'errno': code(lambda: os.mknod(d + '/c', stat.S_IFCHR | 0o600, os.makedev(1, 3))), 'left behind': os.path.lexists(d + '/c')}

@case
def unsupported_socket(d):
    yield
    s = socket.socket(socket.AF_UNIX)
    try:
        return {'errno': code(lambda: s.bind(d + '/s')), 'left behind': os.path.lexists(d + '/s')}
    finally:
        s.close()

@case
def unsupported_user_xattr(d):
    put(d + '/f'); yield
    return {'errno': code(lambda: os.setxattr(d + '/f', 'user.test', b'v'))}

gens = {}
for name, fn in cases.items():
    os.mkdir(root + '/' + name)
    g = fn(root + '/' + name)
    next(g)
    gens[name] = g
time.sleep(PAUSE_S)
out = {}
for name, g in gens.items():
    try:
        next(g)
        raise RuntimeError(name + ' yielded twice')
    except StopIteration as s:
        out[name] = s.value
print(json.dumps(out))
`;

type Observed = Record<string, unknown>;

async function syscalls(root: string): Promise<Record<string, Observed>> {
  const { stdout } = await execFileP(
    'python3',
    ['-c', SYSCALLS_PY, root, String(OTHER_UID), String(OTHER_GID)],
    { maxBuffer: 16 << 20 },
  );
  return JSON.parse(stdout) as Record<string, Observed>;
}

/** What the README promises where the drive lacks the feature (a file system without it, vfat). */
const UNSUPPORTED: Record<string, Observed> = {
  unsupported_hard_link: { errno: 'EPERM', 'left behind': false },
  unsupported_fifo: { errno: 'EPERM', 'left behind': false },
  unsupported_device_node: { errno: 'EPERM', 'left behind': false },
  unsupported_socket: { errno: 'EPERM', 'left behind': false },
  unsupported_user_xattr: { errno: 'ENOTSUP' },
};

t.test('system calls: the drive answers as the local disk', async (t) => {
  const onDrive = await syscalls(a.p('syscalls'));
  const onDisk = await syscalls(path.join(local, 'syscalls'));
  t.same(Object.keys(onDrive).sort(), Object.keys(onDisk).sort(), 'the same cases ran');
  for (const [name, want] of Object.entries(onDisk)) {
    const got = onDrive[name];
    if (name in UNSUPPORTED) {
      t.same(
        got,
        UNSUPPORTED[name],
        `${name}: the drive answers as documented (local disk: ${JSON.stringify(want)})`,
      );
      continue;
    }
    t.same(got, want, name);
  }
  // Ownership is kept on this device (never synced), as the local disk keeps it.
  const f = await fs.lstat(a.p('syscalls/chown_to_other_ids_as_root/f'));
  const g = await fs.lstat(path.join(local, 'syscalls/chown_to_other_ids_as_root/f'));
  t.same([f.uid, f.gid], [OTHER_UID, OTHER_GID], 'chown to other ids: the drive shows the new owner');
  t.same([f.uid, f.gid], [g.uid, g.gid], 'as the local disk does');
});

// ---- tools --------------------------------------------------------------------------------------------

interface Entry {
  type: 'file' | 'dir' | 'symlink' | 'other';
  mode: string;
  size?: number;
  mtimeMs?: number;
  atimeMs?: number;
  nlink?: number;
  target?: string;
  sha256?: string;
}

type Fields = 'm' | 'ma' | 'files' | 'devices';

/**
 * Every node under `dir` with the fields the drive keeps. `fields`: 'm' mtimes of everything,
 * 'ma' atimes too, 'files' mtimes of files and symlinks only (a folder's times are device-local),
 * 'devices' also without folder modes (a folder's chmod stays on its device, README).
 */
async function tree(dir: string, fields: Fields = 'm', rel = ''): Promise<Record<string, Entry>> {
  const out: Record<string, Entry> = {};
  const st = await fs.lstat(path.join(dir, rel), { bigint: true });
  const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
  const e: Entry = { type, mode: (Number(st.mode) & 0o7777).toString(8) };
  const dirLocal = type === 'dir' && (fields === 'files' || fields === 'devices');
  if (!dirLocal) e.mtimeMs = Number(st.mtimeNs / 1_000_000n);
  if (type === 'dir' && fields === 'devices') delete (e as Partial<Entry>).mode;
  if (fields === 'ma') e.atimeMs = Number(st.atimeNs / 1_000_000n);
  if (type === 'file') {
    e.size = Number(st.size);
    e.sha256 = createHash('sha256')
      .update(await fs.readFile(path.join(dir, rel)))
      .digest('hex');
  }
  if (type === 'symlink') e.target = await fs.readlink(path.join(dir, rel));
  if (type === 'dir') {
    e.nlink = Number(st.nlink);
    for (const name of (await fs.readdir(path.join(dir, rel))).sort())
      Object.assign(out, await tree(dir, fields, `${rel}/${name}`));
  }
  out[rel || '/'] = e;
  return out;
}

/** How many nodes `dir` holds (itself included), without reading any file. */
async function countNodes(dir: string): Promise<number> {
  const st = await fs.lstat(dir);
  if (!st.isDirectory()) return 1;
  let n = 1;
  for (const name of await fs.readdir(dir)) n += await countNodes(path.join(dir, name));
  return n;
}

/** Owners of every node under `dir` ("uid:gid" → count). */
async function owners(dir: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const walk = async (p: string): Promise<void> => {
    const st = await fs.lstat(p);
    const k = `${st.uid}:${st.gid}`;
    out[k] = (out[k] ?? 0) + 1;
    if (st.isDirectory()) for (const n of await fs.readdir(p)) await walk(path.join(p, n));
  };
  await walk(dir);
  return out;
}

interface Run {
  code: number;
  stderr: string;
}

async function run(cmd: string, args: string[], cwd?: string): Promise<Run> {
  try {
    const r = await execFileP(cmd, args, { env: { ...process.env, LC_ALL: 'C' }, cwd, maxBuffer: 64 << 20 });
    return { code: 0, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stderr: e.stderr ?? String(err) };
  }
}

/** A small source tree with what tools must carry: modes, times (atime ≠ mtime), links, owners. */
async function sourceTree(src: string): Promise<void> {
  await fs.mkdir(src);
  await fs.mkdir(path.join(src, 'sub/deeper'), { recursive: true });
  await fs.mkdir(path.join(src, 'private'), { mode: 0o700 });
  await fs.writeFile(path.join(src, 'small.txt'), 'hello\n');
  await fs.writeFile(path.join(src, 'empty'), '');
  await fs.writeFile(path.join(src, 'sub/big.bin'), pseudoRandom(700 * 1024 + 3, 7));
  await fs.writeFile(path.join(src, 'sub/deeper/x.txt'), 'x'.repeat(5000));
  await fs.writeFile(path.join(src, 'private/secret'), 's', { mode: 0o600 });
  await fs.writeFile(path.join(src, 'run.sh'), '#!/bin/sh\n', { mode: 0o755 });
  await fs.writeFile(path.join(src, 'setuid'), 'u');
  await fs.symlink('small.txt', path.join(src, 'link'));
  await fs.symlink('../nowhere', path.join(src, 'sub/dangling'));
  await fs.chown(path.join(src, 'small.txt'), OTHER_UID, OTHER_GID);
  await fs.chown(path.join(src, 'sub'), OTHER_UID, OTHER_GID);
  await fs.lchown(path.join(src, 'link'), OTHER_UID, OTHER_GID);
  await fs.chmod(path.join(src, 'setuid'), 0o4755);
  // Times in whole ms. The atime is an hour ahead: relatime moves an atime on read only when it is
  // not after the mtime and ctime (or a day old), so reading the source (tar c, the copies) leaves
  // it as it is and every copy that preserves it agrees.
  const now = Date.now();
  const atime = new Date(Math.floor(now / 1000) * 1000 + 3_600_000 + 123);
  const mtime = new Date(Math.floor(now / 1000) * 1000 - 2 * 86_400_000 + 456);
  const all = Object.keys(await tree(src)).sort((x, y) => y.length - x.length); // children first
  for (const rel of all) {
    const p = path.join(src, rel);
    if ((await fs.lstat(p)).isSymbolicLink()) await fs.lutimes(p, atime, mtime);
    else await fs.utimes(p, atime, mtime);
  }
}

/** Each tool step: what it runs, with {src}, {dst}, {tar} replaced; `times` as for tree(). */
interface Step {
  name: string;
  cmds: string[][];
  /** The output to compare, relative to the destination root. */
  out: string;
  times: Fields;
  needs?: string;
}

const STEPS: Step[] = [
  { name: 'cp -a', cmds: [['cp', '-a', '{src}', '{dst}/cp-a']], out: 'cp-a', times: 'ma' },
  {
    name: 'cp -p (one file)',
    cmds: [['cp', '-p', '{src}/sub/big.bin', '{dst}/cp-p.bin']],
    out: 'cp-p.bin',
    times: 'ma',
  },
  { name: 'cp -rp', cmds: [['cp', '-rp', '{src}', '{dst}/cp-rp']], out: 'cp-rp', times: 'ma' },
  {
    name: 'tar x (files owned by other uids)',
    cmds: [
      ['mkdir', '{dst}/tar-x'],
      ['tar', '-C', '{dst}/tar-x', '-xf', '{tar}'],
    ],
    out: 'tar-x',
    times: 'm',
  },
  {
    name: 'tar x --same-owner -p',
    cmds: [
      ['mkdir', '{dst}/tar-same'],
      ['tar', '-C', '{dst}/tar-same', '--same-owner', '-xpf', '{tar}'],
    ],
    out: 'tar-same',
    times: 'm',
  },
  {
    name: 'tar x --no-same-owner',
    cmds: [
      ['mkdir', '{dst}/tar-noown'],
      ['tar', '-C', '{dst}/tar-noown', '--no-same-owner', '-xf', '{tar}'],
    ],
    out: 'tar-noown',
    times: 'm',
  },
  {
    name: 'rsync -a',
    cmds: [['rsync', '-a', '{src}/', '{dst}/rsync/']],
    out: 'rsync',
    times: 'm',
    needs: 'rsync',
  },
  {
    name: 'rsync -a again (nothing to do)',
    cmds: [['rsync', '-a', '{src}/', '{dst}/rsync/']],
    out: 'rsync',
    times: 'm',
    needs: 'rsync',
  },
  {
    name: 'install -o -g -m',
    cmds: [
      ['install', '-d', '-o', String(OTHER_UID), '-g', String(OTHER_GID), '-m', '0750', '{dst}/inst'],
      [
        'install',
        '-p',
        '-o',
        String(OTHER_UID),
        '-g',
        String(OTHER_GID),
        '-m',
        '0640',
        '{src}/small.txt',
        '{dst}/inst/f',
      ],
      ['install', '-p', '-o', '0', '-g', '0', '-m', '0755', '{src}/run.sh', '{dst}/inst/run.sh'],
    ],
    out: 'inst',
    times: 'files',
  },
  {
    name: 'touch -a -d, touch -m -d, touch -d',
    cmds: [
      ['cp', '-p', '{src}/small.txt', '{dst}/t-a'],
      ['cp', '-p', '{src}/small.txt', '{dst}/t-m'],
      ['cp', '-p', '{src}/small.txt', '{dst}/t-d'],
      ['mkdir', '{dst}/t-dir'],
      ['touch', '-a', '-d', '2001-02-03 04:05:06.789', '{dst}/t-a'],
      ['touch', '-m', '-d', '2002-03-04 05:06:07.891', '{dst}/t-m'],
      ['touch', '-d', '2003-04-05 06:07:08.912', '{dst}/t-d'],
      ['touch', '-d', '2004-05-06 07:08:09.123', '{dst}/t-dir'],
    ],
    out: '.',
    times: 'ma',
  },
];

async function have(cmd: string): Promise<boolean> {
  return (await run('sh', ['-c', `command -v ${cmd}`])).code === 0;
}

t.test('tools: the same exit codes, trees, modes, times and contents as on the local disk', async (t) => {
  const src = path.join(scratch, 'src');
  await sourceTree(src);
  const tarFile = path.join(scratch, 'owned.tar');
  const made = await run('tar', [
    `--owner=${OTHER_UID}`,
    `--group=${OTHER_GID}`,
    '-cf',
    tarFile,
    '-C',
    src,
    '.',
  ]);
  t.equal(made.code, 0, `tar c: ${made.stderr}`);
  const dstDrive = a.p('tools');
  const dstLocal = path.join(local, 'tools');
  await fs.mkdir(dstDrive);
  await fs.mkdir(dstLocal);
  for (const step of STEPS) {
    if (step.needs && !(await have(step.needs))) {
      t.fail(`${step.name}: ${step.needs} is not installed (scripts/setup installs it)`);
      continue;
    }
    // The touch step compares its own files only (the others are each step's own output).
    for (const [side, dst] of [
      ['drive', dstDrive],
      ['local', dstLocal],
    ] as const) {
      for (const cmd of step.cmds) {
        const args = cmd.map((x) => x.replace('{src}', src).replace('{dst}', dst).replace('{tar}', tarFile));
        const r = await run(args[0]!, args.slice(1));
        t.equal(r.code, 0, `${step.name} on the ${side}: ${args.join(' ')} exits 0 ${r.stderr.trim()}`);
      }
    }
    const pick = async (dst: string) => {
      const all = await tree(path.join(dst, step.out), step.times);
      if (step.out !== '.') return all;
      return Object.fromEntries(Object.entries(all).filter(([k]) => /^\/t-/.test(k)));
    };
    t.same(
      await pick(dstDrive),
      await pick(dstLocal),
      `${step.name}: the same tree on the drive as on the local disk`,
    );
  }
  // Ownership: kept on this device (never synced), as the local disk keeps it.
  t.same(await owners(dstDrive), await owners(dstLocal), 'every owner on the drive as on the local disk');
  t.ok(
    (await owners(path.join(dstLocal, 'tar-x')))[`${OTHER_UID}:${OTHER_GID}`],
    'the local tar x kept the archive owners',
  );
});

// ---- the bar: /usr/share/doc ------------------------------------------------------------------------

/**
 * The first folders of /usr/share/doc (by name) holding at least DOC_ENTRIES entries. Every entry
 * is written three times (cp, tar, rsync), committed one file at a time and pulled by the second
 * device: 1,500 entries took ~110 s here, 600 keep the test near a minute.
 */
const DOC_ENTRIES = 600;

async function docSubset(): Promise<string[]> {
  const names = (await fs.readdir('/usr/share/doc')).sort();
  const picked: string[] = [];
  let n = 0;
  for (const name of names) {
    if (n >= DOC_ENTRIES) break;
    picked.push(name);
    n += await countNodes(path.join('/usr/share/doc', name));
  }
  return picked;
}

t.test(
  'the bar: cp -a, tar x and rsync -a of /usr/share/doc; a second device sees the same bytes',
  async (t) => {
    const docs = await docSubset();
    t.ok(docs.length > 0, `${docs.length} folders of /usr/share/doc`);
    const tarFile = path.join(scratch, 'doc.tar');
    const made = await run('tar', [
      `--owner=${OTHER_UID}`,
      `--group=${OTHER_GID}`,
      '-cf',
      tarFile,
      '-C',
      '/usr/share/doc',
      ...docs,
    ]);
    t.equal(made.code, 0, `tar c: ${made.stderr}`);
    const into = async (dst: string) => {
      await fs.mkdir(path.join(dst, 'cp-a'), { recursive: true });
      await fs.mkdir(path.join(dst, 'tar-x'));
      await fs.mkdir(path.join(dst, 'rsync'));
      return [
        await run('cp', ['-a', ...docs.map((d) => path.join('/usr/share/doc', d)), path.join(dst, 'cp-a')]),
        await run('tar', ['-C', path.join(dst, 'tar-x'), '-xf', tarFile]),
        await run('rsync', [
          '-a',
          ...docs.map((d) => path.join('/usr/share/doc', d)),
          path.join(dst, 'rsync') + '/',
        ]),
      ];
    };
    const [cp, tar, rsync] = await into(a.p('doc'));
    t.equal(cp!.code, 0, `cp -a into the drive exits 0 ${cp!.stderr.slice(0, 2000)}`);
    t.equal(tar!.code, 0, `tar x into the drive exits 0 ${tar!.stderr.slice(0, 2000)}`);
    t.equal(rsync!.code, 0, `rsync -a into the drive exits 0 ${rsync!.stderr.slice(0, 2000)}`);
    await into(path.join(local, 'doc'));
    t.same(
      await tree(a.p('doc'), 'files'),
      await tree(path.join(local, 'doc'), 'files'),
      'the drive holds what the local disk holds',
    );
    const here = await tree(a.p('doc'), 'devices');

    const wait = await runLoft(['status', '--wait', '--state', a.state]);
    t.equal(wait.code, 0, `loft status --wait: ${wait.stderr}`);
    await settled(a);
    // The second device follows the journal: wait (bounded) until it lists the same tree.
    const count = Object.keys(here).length;
    await waitFor(
      'the second device lists the whole tree',
      async () => (await countNodes(b.p('doc')).catch(() => 0)) === count,
      120_000,
      250,
    );
    t.same(await tree(b.p('doc'), 'devices'), here, 'the second device sees the same tree byte for byte');
  },
);
