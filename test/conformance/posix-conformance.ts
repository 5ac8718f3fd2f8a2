/**
 * Write-path POSIX conformance: the same expectations checked against the VFS in-process
 * (test/unit/client/vfs-posix.test.ts) and through a real FUSE mount
 * (test/integration/drive-posix.test.ts). An adapter hides how each side is called; errors carry
 * `code` = errno name on both. Every case works in its own fresh directory under `root`, so the
 * suite can run on a drive that holds other content.
 */
import type { Test } from 'tap';
import { MiB, pseudoRandom } from '../helpers/fixtures.js';

export interface PStat {
  size: number;
  isDir: boolean;
  isFile: boolean;
  isSymlink: boolean;
  mode: number;
  mtimeMs: number;
  atimeMs: number;
  ctimeMs: number;
  nlink: number;
  uid: number;
  gid: number;
}

export interface WriteFs {
  /** lstat semantics (does not follow symlinks). */
  stat(path: string): Promise<PStat>;
  /** Names without "." and "..". */
  readdir(path: string): Promise<string[]>;
  readFile(path: string): Promise<Buffer>;
  /** Opens with node fs flag strings like 'w', 'r+', 'a', 'wx'; returns a handle. */
  open(path: string, flags: string, mode?: number): Promise<number>;
  write(fh: number, data: Buffer, offset: number): Promise<number>;
  read(fh: number, length: number, offset: number): Promise<Buffer>;
  ftruncate(fh: number, size: number): Promise<void>;
  fsync(fh: number): Promise<void>;
  close(fh: number): Promise<void>;
  truncate(path: string, size: number): Promise<void>;
  unlink(path: string): Promise<void>;
  mkdir(path: string, mode?: number): Promise<void>;
  rmdir(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  chmod(path: string, mode: number): Promise<void>;
  /** Times in ms since epoch; null = leave unchanged (UTIME_OMIT); 'now' = UTIME_NOW. */
  utimes(path: string, atimeMs: number | null | 'now', mtimeMs: number | null | 'now'): Promise<void>;
  symlink(target: string, path: string): Promise<void>;
  readlink(path: string): Promise<string>;
  link(existing: string, newPath: string): Promise<void>;
  /** Creates a FIFO (optional: adapters may omit it). */
  mknod?(path: string): Promise<void>;
  /** chown(2); -1 leaves an id unchanged. */
  chown(path: string, uid: number, gid: number): Promise<void>;
}

const KiB = 1024;
/** An old, whole-second time, far from "now". */
const OLD_MS = 1_500_000_000_000;
const sec = (ms: number): number => Math.floor(ms / 1000);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The errno name a call fails with, or 'OK' when it succeeds. */
async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (err) {
    return String((err as { code?: unknown }).code);
  }
}

export function posixConformance(t: Test, name: string, fs: () => WriteFs, root: string): void {
  const base = root.replace(/\/+$/, '');
  let cases = 0;

  /** A fresh, empty directory for one case. */
  const caseDir = async (): Promise<string> => {
    const dir = `${base}/case-${++cases}`;
    await fs().mkdir(dir);
    return dir;
  };

  /** Creates (or replaces) a file with `data`, written in `chunk`-sized writes through one handle. */
  const put = async (path: string, data: Buffer, chunk = 128 * KiB): Promise<void> => {
    const fh = await fs().open(path, 'w');
    try {
      for (let o = 0; o < data.length; o += chunk) {
        const part = data.subarray(o, o + chunk);
        const n = await fs().write(fh, part, o);
        if (n !== part.length) throw new Error(`short write at ${o}: ${n} of ${part.length}`);
      }
    } finally {
      await fs().close(fh);
    }
  };

  /** Reads `length` bytes at `offset` through a fresh read-only handle. */
  const readAt = async (path: string, offset: number, length: number): Promise<Buffer> => {
    const fh = await fs().open(path, 'r');
    try {
      return await fs().read(fh, length, offset);
    } finally {
      await fs().close(fh);
    }
  };

  t.test(`${name}: posix write conformance`, async (t) => {
    t.before(async () => {
      const code = await codeOf(fs().mkdir(base || '/'));
      if (code !== 'OK' && code !== 'EEXIST') throw new Error(`cannot create ${root}: ${code}`);
    });

    t.test('create, write and read back a small file', async (t) => {
      const d = await caseDir();
      const fh = await fs().open(`${d}/small.txt`, 'w');
      t.equal(await fs().write(fh, Buffer.from('hello, '), 0), 7);
      t.equal(await fs().write(fh, Buffer.from('world\n'), 7), 6);
      await fs().close(fh);
      t.equal((await fs().readFile(`${d}/small.txt`)).toString(), 'hello, world\n');
      const st = await fs().stat(`${d}/small.txt`);
      t.match(st, { isFile: true, isDir: false, isSymlink: false, size: 13, nlink: 1 });
      t.same(await fs().readdir(d), ['small.txt']);

      // An empty file exists with size 0; an explicit create mode is honoured (0o600 survives any umask).
      await fs().close(await fs().open(`${d}/empty`, 'wx', 0o600));
      const e = await fs().stat(`${d}/empty`);
      t.match(e, { isFile: true, size: 0 });
      t.equal(e.mode & 0o777, 0o600);
      t.equal((await fs().readFile(`${d}/empty`)).length, 0);
      t.same((await fs().readdir(d)).sort(), ['empty', 'small.txt']);
    });

    t.test('3 MiB written in 128 KiB pieces at scattered offsets, out of order', async (t) => {
      const d = await caseDir();
      const data = pseudoRandom(3 * MiB, 11);
      const piece = 128 * KiB;
      const pieces = data.length / piece; // 24
      const fh = await fs().open(`${d}/big.bin`, 'w');
      for (let i = 0; i < pieces; i++) {
        const k = (i * 7 + 5) % pieces; // 7 is coprime to 24: every piece once, far from in order
        const n = await fs().write(fh, data.subarray(k * piece, (k + 1) * piece), k * piece);
        t.equal(n, piece, `piece ${k}`);
      }
      await fs().close(fh);
      t.equal((await fs().stat(`${d}/big.bin`)).size, data.length);
      t.same(await fs().readdir(d), ['big.bin']);
      t.ok((await fs().readFile(`${d}/big.bin`)).equals(data), 'whole file reads back');
      for (const [off, len] of [
        [0, 10],
        [piece - 3, 7],
        [5 * piece - 1000, 2 * piece + 2000],
        [data.length - 100, 100],
        [data.length - 100, 4096],
      ] as const) {
        t.ok((await readAt(`${d}/big.bin`, off, len)).equals(data.subarray(off, off + len)), `${off}+${len}`);
      }
      t.equal((await readAt(`${d}/big.bin`, data.length, 100)).length, 0, 'nothing at EOF');

      // Unaligned writes of odd sizes, also out of order.
      const odd = pseudoRandom(300 * KiB + 17, 12);
      const cuts = [0, 1, 4095, 4097, 65_535, 65_537, 131_073, 200_000, odd.length];
      const ofh = await fs().open(`${d}/odd.bin`, 'w');
      for (const i of [3, 0, 7, 5, 1, 6, 2, 4]) {
        const [a, b] = [cuts[i]!, cuts[i + 1]!];
        t.equal(await fs().write(ofh, odd.subarray(a, b), a), b - a);
      }
      await fs().close(ofh);
      t.ok((await fs().readFile(`${d}/odd.bin`)).equals(odd), 'unaligned pieces read back');
    });

    t.test('overwrite in the middle keeps the rest; append appends; w truncates', async (t) => {
      const d = await caseDir();
      const f = `${d}/f.txt`;
      await put(f, Buffer.from('0123456789'));
      let fh = await fs().open(f, 'r+');
      await fs().write(fh, Buffer.from('ab'), 4);
      t.equal((await fs().read(fh, 100, 0)).toString(), '0123ab6789', 'visible through the handle');
      await fs().close(fh);
      t.equal((await fs().readFile(f)).toString(), '0123ab6789');
      t.equal((await fs().stat(f)).size, 10);

      // Across block boundaries of a bigger file.
      const big = pseudoRandom(300 * KiB, 21);
      await put(`${d}/big`, big);
      const patch = pseudoRandom(70 * KiB + 3, 22);
      fh = await fs().open(`${d}/big`, 'r+');
      await fs().write(fh, patch, 100 * KiB);
      await fs().close(fh);
      const want = Buffer.from(big);
      patch.copy(want, 100 * KiB);
      const got = await fs().readFile(`${d}/big`);
      t.equal(got.length, big.length);
      t.ok(got.equals(want), 'patched range replaced, the rest untouched');

      // O_APPEND: every write lands at the end, whatever offset is given (Linux pwrite semantics).
      fh = await fs().open(f, 'a');
      await fs().write(fh, Buffer.from('XY'), 0);
      await fs().write(fh, Buffer.from('Z'), 0);
      await fs().close(fh);
      t.equal((await fs().readFile(f)).toString(), '0123ab6789XYZ');
      await fs().close(await fs().open(`${d}/new-by-append`, 'a'));
      t.equal((await fs().stat(`${d}/new-by-append`)).size, 0, "'a' creates a missing file");

      // 'w' truncates an existing file.
      await fs().close(await fs().open(f, 'w'));
      t.equal((await fs().stat(f)).size, 0);
      t.equal((await fs().readFile(f)).length, 0);
    });

    t.test('open errors: EEXIST, ENOENT, EISDIR, ENOTDIR, EBADF', async (t) => {
      const d = await caseDir();
      await put(`${d}/file`, Buffer.from('keep'));
      await fs().mkdir(`${d}/dir`);
      await t.rejects(fs().open(`${d}/file`, 'wx'), { code: 'EEXIST' });
      await t.rejects(fs().open(`${d}/dir`, 'wx'), { code: 'EEXIST' });
      t.equal((await fs().readFile(`${d}/file`)).toString(), 'keep', 'wx left it alone');
      await t.rejects(fs().open(`${d}/missing`, 'r'), { code: 'ENOENT' });
      await t.rejects(fs().open(`${d}/missing`, 'r+'), { code: 'ENOENT' });
      await t.rejects(fs().open(`${d}/dir`, 'w'), { code: 'EISDIR' });
      await t.rejects(fs().open(`${d}/dir`, 'r+'), { code: 'EISDIR' });
      await t.rejects(fs().open(`${d}/nodir/x`, 'w'), { code: 'ENOENT' });
      await t.rejects(fs().open(`${d}/file/x`, 'w'), { code: 'ENOTDIR' });
      await t.rejects(fs().open(`${d}/file/x`, 'r'), { code: 'ENOTDIR' });
      t.same((await fs().readdir(d)).sort(), ['dir', 'file'], 'no stray entries');

      // A handle only does what it was opened for.
      const ro = await fs().open(`${d}/file`, 'r');
      await t.rejects(fs().write(ro, Buffer.from('x'), 0), { code: 'EBADF' });
      await fs().close(ro);
      const wo = await fs().open(`${d}/file`, 'a');
      await t.rejects(fs().read(wo, 10, 0), { code: 'EBADF' });
      await fs().close(wo);
      t.equal((await fs().readFile(`${d}/file`)).toString(), 'keep');
    });

    t.test('truncate and ftruncate: extend with zeros, shrink, to 0, re-extend, gaps', async (t) => {
      const d = await caseDir();
      const f = `${d}/t.txt`;
      await put(f, Buffer.from('abc'));
      await fs().truncate(f, 10);
      t.equal((await fs().stat(f)).size, 10);
      t.ok((await fs().readFile(f)).equals(Buffer.from('abc\0\0\0\0\0\0\0')), 'extended with zeros');
      await fs().truncate(f, 2);
      t.equal((await fs().readFile(f)).toString(), 'ab', 'shrunk');
      await fs().truncate(f, 0);
      t.equal((await fs().stat(f)).size, 0);
      t.equal((await fs().readFile(f)).length, 0);

      // Shrink then extend again: the old bytes must not come back.
      await put(f, Buffer.from('abcdefgh'));
      await fs().truncate(f, 2);
      await fs().truncate(f, 8);
      t.ok((await fs().readFile(f)).equals(Buffer.from('ab\0\0\0\0\0\0')), 'zeros, not old bytes');

      // The same on a multi-block file.
      const big = pseudoRandom(MiB, 31);
      await put(`${d}/big`, big);
      await fs().truncate(`${d}/big`, 100 * KiB + 1);
      await fs().truncate(`${d}/big`, MiB);
      const got = await fs().readFile(`${d}/big`);
      t.equal(got.length, MiB);
      t.ok(got.subarray(0, 100 * KiB + 1).equals(big.subarray(0, 100 * KiB + 1)), 'prefix kept');
      t.ok(got.subarray(100 * KiB + 1).equals(Buffer.alloc(MiB - 100 * KiB - 1)), 'tail is zeros');

      // ftruncate on an open handle, seen through that handle and by path.
      const fh = await fs().open(`${d}/h`, 'w+');
      await fs().write(fh, Buffer.from('0123456789'), 0);
      await fs().ftruncate(fh, 5);
      t.equal((await fs().read(fh, 100, 0)).toString(), '01234');
      t.equal((await fs().stat(`${d}/h`)).size, 5, 'stat sees the open handle truncate');
      await fs().ftruncate(fh, 7);
      t.ok((await fs().read(fh, 100, 0)).equals(Buffer.from('01234\0\0')), 'ftruncate extends with zeros');
      await fs().ftruncate(fh, 0);
      await fs().write(fh, Buffer.from('xy'), 0);
      await fs().close(fh);
      t.equal((await fs().readFile(`${d}/h`)).toString(), 'xy');

      // Writing past the end leaves a zero-filled gap (small and across blocks).
      await put(`${d}/gap`, Buffer.from('ab'));
      let g = await fs().open(`${d}/gap`, 'r+');
      await fs().write(g, Buffer.from('z'), 1000);
      await fs().close(g);
      const small = await fs().readFile(`${d}/gap`);
      t.equal(small.length, 1001);
      t.ok(
        small.equals(Buffer.concat([Buffer.from('ab'), Buffer.alloc(998), Buffer.from('z')])),
        'small gap',
      );
      g = await fs().open(`${d}/gap2`, 'w');
      await fs().write(g, Buffer.from('head'), 0);
      await fs().write(g, Buffer.from('tail'), MiB + 3);
      await fs().close(g);
      const wide = await fs().readFile(`${d}/gap2`);
      t.equal(wide.length, MiB + 7);
      t.ok(wide.subarray(4, MiB + 3).equals(Buffer.alloc(MiB - 1)), 'wide gap is zeros');
      t.equal(wide.subarray(MiB + 3).toString(), 'tail');

      await t.rejects(fs().truncate(`${d}/missing`, 0), { code: 'ENOENT' });
      await fs().mkdir(`${d}/dir`);
      await t.rejects(fs().truncate(`${d}/dir`, 0), { code: 'EISDIR' });
    });

    t.test('read-your-writes across handles before close', async (t) => {
      const d = await caseDir();
      const f = `${d}/ryw.txt`;
      const a = await fs().open(f, 'w');
      await fs().write(a, Buffer.from('first'), 0);
      const b = await fs().open(f, 'r+');
      t.equal((await fs().read(b, 100, 0)).toString(), 'first', 'second handle sees the write');
      t.equal((await fs().readFile(f)).toString(), 'first', 'readFile sees the write');
      t.equal((await fs().stat(f)).size, 5, 'stat sees the size');
      await fs().write(a, Buffer.from('-more'), 5);
      t.equal((await fs().read(b, 100, 0)).toString(), 'first-more');
      await fs().write(b, Buffer.from('F'), 0);
      await fs().close(b);
      t.equal((await fs().readFile(f)).toString(), 'First-more', 'write through the second handle');
      await fs().write(a, Buffer.from('!'), 10);
      await fs().close(a);
      t.equal((await fs().readFile(f)).toString(), 'First-more!');
    });

    t.test('unlink', async (t) => {
      const d = await caseDir();
      await put(`${d}/gone`, Buffer.from('x'));
      await put(`${d}/stays`, Buffer.from('y'));
      await fs().unlink(`${d}/gone`);
      await t.rejects(fs().stat(`${d}/gone`), { code: 'ENOENT' });
      await t.rejects(fs().open(`${d}/gone`, 'r'), { code: 'ENOENT' });
      t.same(await fs().readdir(d), ['stays']);
      await t.rejects(fs().unlink(`${d}/gone`), { code: 'ENOENT' });
      await t.rejects(fs().unlink(`${d}/nodir/x`), { code: 'ENOENT' });
      await fs().mkdir(`${d}/dir`);
      await t.rejects(fs().unlink(`${d}/dir`), { code: /^(EISDIR|EPERM)$/ });
      t.ok((await fs().stat(`${d}/dir`)).isDir, 'directory still there');
      // A new file under the old name starts empty.
      await fs().close(await fs().open(`${d}/gone`, 'wx'));
      t.equal((await fs().stat(`${d}/gone`)).size, 0);
    });

    t.test('mkdir and rmdir', async (t) => {
      const d = await caseDir();
      await fs().mkdir(`${d}/sub`);
      t.match(await fs().stat(`${d}/sub`), { isDir: true, isFile: false, isSymlink: false });
      t.same(await fs().readdir(`${d}/sub`), []);
      await fs().mkdir(`${d}/sub/deeper`);
      t.same(await fs().readdir(`${d}/sub`), ['deeper']);
      await t.rejects(fs().mkdir(`${d}/sub`), { code: 'EEXIST' });
      await put(`${d}/file`, Buffer.from('f'));
      await t.rejects(fs().mkdir(`${d}/file`), { code: 'EEXIST' });
      await t.rejects(fs().mkdir(`${d}/missing/x`), { code: 'ENOENT' });
      await t.rejects(fs().mkdir(`${d}/file/x`), { code: 'ENOTDIR' });
      await t.rejects(fs().rmdir(`${d}/sub`), { code: 'ENOTEMPTY' });
      await t.rejects(fs().rmdir(`${d}/file`), { code: 'ENOTDIR' });
      await t.rejects(fs().rmdir(`${d}/missing`), { code: 'ENOENT' });
      await fs().rmdir(`${d}/sub/deeper`);
      await fs().rmdir(`${d}/sub`);
      await t.rejects(fs().stat(`${d}/sub`), { code: 'ENOENT' });
      t.same(await fs().readdir(d), ['file']);
      // A directory holding only a file is not empty either.
      await fs().mkdir(`${d}/withfile`);
      await put(`${d}/withfile/x`, Buffer.from('x'));
      await t.rejects(fs().rmdir(`${d}/withfile`), { code: 'ENOTEMPTY' });

      await fs().mkdir(`${d}/m750`, 0o750);
      t.equal((await fs().stat(`${d}/m750`)).mode & 0o777, 0o750);
      await fs().mkdir(`${d}/m700`, 0o700);
      t.equal((await fs().stat(`${d}/m700`)).mode & 0o777, 0o700);
    });

    t.test('rename: files', async (t) => {
      const d = await caseDir();
      await put(`${d}/a`, Buffer.from('AAA'));
      await fs().rename(`${d}/a`, `${d}/b`);
      await t.rejects(fs().stat(`${d}/a`), { code: 'ENOENT' });
      t.equal((await fs().readFile(`${d}/b`)).toString(), 'AAA');
      t.same(await fs().readdir(d), ['b']);

      // Over an existing file: replaced atomically by the source.
      await put(`${d}/c`, Buffer.from('a longer old content'));
      await fs().rename(`${d}/b`, `${d}/c`);
      t.equal((await fs().readFile(`${d}/c`)).toString(), 'AAA');
      t.equal((await fs().stat(`${d}/c`)).size, 3);
      t.same(await fs().readdir(d), ['c']);

      // Across directories.
      await fs().mkdir(`${d}/other`);
      await fs().rename(`${d}/c`, `${d}/other/moved`);
      t.same((await fs().readdir(d)).sort(), ['other']);
      t.equal((await fs().readFile(`${d}/other/moved`)).toString(), 'AAA');

      // Onto itself: a no-op that succeeds.
      await fs().rename(`${d}/other/moved`, `${d}/other/moved`);
      t.equal((await fs().readFile(`${d}/other/moved`)).toString(), 'AAA');
      t.same(await fs().readdir(`${d}/other`), ['moved']);

      // An open handle follows the file.
      const fh = await fs().open(`${d}/other/moved`, 'r+');
      await fs().rename(`${d}/other/moved`, `${d}/renamed-open`);
      await fs().write(fh, Buffer.from('Z'), 3);
      t.equal((await fs().read(fh, 100, 0)).toString(), 'AAAZ');
      await fs().close(fh);
      t.equal((await fs().readFile(`${d}/renamed-open`)).toString(), 'AAAZ');
      await t.rejects(fs().stat(`${d}/other/moved`), { code: 'ENOENT' });

      await t.rejects(fs().rename(`${d}/missing`, `${d}/x`), { code: 'ENOENT' });
      await t.rejects(fs().rename(`${d}/renamed-open`, `${d}/nodir/x`), { code: 'ENOENT' });
      await t.rejects(fs().rename(`${d}/renamed-open`, `${d}/renamed-open/x`), { code: 'ENOTDIR' });
      t.equal((await fs().readFile(`${d}/renamed-open`)).toString(), 'AAAZ', 'failed renames change nothing');
    });

    t.test('rename: directories and kind mismatches', async (t) => {
      const d = await caseDir();
      await fs().mkdir(`${d}/src`);
      await fs().mkdir(`${d}/src/sub`);
      await put(`${d}/src/f`, Buffer.from('child'));
      await put(`${d}/src/sub/g`, Buffer.from('grandchild'));
      await fs().rename(`${d}/src`, `${d}/dst`);
      await t.rejects(fs().stat(`${d}/src`), { code: 'ENOENT' });
      await t.rejects(fs().stat(`${d}/src/f`), { code: 'ENOENT' });
      t.same((await fs().readdir(`${d}/dst`)).sort(), ['f', 'sub']);
      t.equal((await fs().readFile(`${d}/dst/f`)).toString(), 'child');
      t.equal((await fs().readFile(`${d}/dst/sub/g`)).toString(), 'grandchild');

      // Over an empty directory: allowed, the target is replaced.
      await fs().mkdir(`${d}/empty`);
      await fs().rename(`${d}/dst`, `${d}/empty`);
      t.same((await fs().readdir(`${d}/empty`)).sort(), ['f', 'sub']);
      t.same((await fs().readdir(d)).sort(), ['empty']);
      await fs().rename(`${d}/empty`, `${d}/empty`);
      t.same((await fs().readdir(`${d}/empty`)).sort(), ['f', 'sub'], 'onto itself: no-op');

      // Over a non-empty directory: refused.
      await fs().mkdir(`${d}/full`);
      await put(`${d}/full/x`, Buffer.from('x'));
      await fs().mkdir(`${d}/moving`);
      await t.rejects(fs().rename(`${d}/moving`, `${d}/full`), { code: 'ENOTEMPTY' });
      t.same(await fs().readdir(`${d}/full`), ['x'], 'target untouched');
      t.ok((await fs().stat(`${d}/moving`)).isDir, 'source untouched');

      // Kind mismatches.
      await put(`${d}/file`, Buffer.from('file'));
      await t.rejects(fs().rename(`${d}/file`, `${d}/full`), { code: 'EISDIR' });
      await t.rejects(fs().rename(`${d}/moving`, `${d}/file`), { code: 'ENOTDIR' });
      t.equal((await fs().readFile(`${d}/file`)).toString(), 'file');

      // Into its own subtree.
      await t.rejects(fs().rename(`${d}/empty`, `${d}/empty/sub/inside`), { code: 'EINVAL' });
      await t.rejects(fs().rename(`${d}/empty`, `${d}/empty/inside`), { code: 'EINVAL' });
      t.same((await fs().readdir(`${d}/empty`)).sort(), ['f', 'sub']);
      t.same((await fs().readdir(d)).sort(), ['empty', 'file', 'full', 'moving']);
    });

    t.test('chmod changes mode bits and ctime, not mtime', async (t) => {
      const d = await caseDir();
      const f = `${d}/f`;
      await put(f, Buffer.from('x'));
      await fs().utimes(f, OLD_MS, OLD_MS);
      const before = await fs().stat(f);
      await sleep(1100); // ctime may only have whole seconds
      await fs().chmod(f, 0o600);
      const a = await fs().stat(f);
      t.equal(a.mode & 0o777, 0o600);
      t.ok(a.isFile, 'still a file');
      t.ok(sec(a.ctimeMs) > sec(before.ctimeMs), `ctime bumped (${before.ctimeMs} -> ${a.ctimeMs})`);
      t.equal(sec(a.mtimeMs), sec(OLD_MS), 'mtime unchanged');
      await fs().chmod(f, 0o755);
      t.equal((await fs().stat(f)).mode & 0o777, 0o755);
      t.equal((await fs().readFile(f)).toString(), 'x', 'content unchanged');

      await fs().mkdir(`${d}/dir`);
      await fs().chmod(`${d}/dir`, 0o700);
      const ds = await fs().stat(`${d}/dir`);
      t.equal(ds.mode & 0o777, 0o700);
      t.ok(ds.isDir);
      await t.rejects(fs().chmod(`${d}/missing`, 0o644), { code: 'ENOENT' });
    });

    t.test('utimes: exact times, UTIME_OMIT, UTIME_NOW', async (t) => {
      const d = await caseDir();
      const f = `${d}/f`;
      await put(f, Buffer.from('x'));
      const m1 = 1_600_000_123_456;
      await fs().utimes(f, m1 - 5000, m1);
      t.equal(sec((await fs().stat(f)).mtimeMs), sec(m1), 'mtime set exactly');

      await fs().utimes(f, OLD_MS, null);
      t.equal(sec((await fs().stat(f)).mtimeMs), sec(m1), 'null mtime (UTIME_OMIT) leaves it unchanged');

      await fs().utimes(f, null, OLD_MS);
      t.equal(sec((await fs().stat(f)).mtimeMs), sec(OLD_MS), 'mtime set with atime omitted');

      const t0 = Date.now();
      await fs().utimes(f, null, 'now');
      const now = (await fs().stat(f)).mtimeMs;
      t.ok(Math.abs(now - t0) < 5000, `'now' mtime is about now (${now} vs ${t0})`);
      await fs().utimes(f, OLD_MS, OLD_MS);
      await fs().utimes(f, 'now', 'now');
      t.ok(Math.abs((await fs().stat(f)).mtimeMs - Date.now()) < 5000, "'now' for both");
      t.equal((await fs().readFile(f)).toString(), 'x', 'content unchanged');

      await fs().mkdir(`${d}/dir`);
      await fs().utimes(`${d}/dir`, OLD_MS, OLD_MS);
      t.equal(sec((await fs().stat(`${d}/dir`)).mtimeMs), sec(OLD_MS), 'directories too');
      await t.rejects(fs().utimes(`${d}/missing`, OLD_MS, OLD_MS), { code: 'ENOENT' });
    });

    t.test('atime apart from mtime, UTIME_OMIT of either', async (t) => {
      const d = await caseDir();
      const f = `${d}/f`;
      await put(f, Buffer.from('x'));
      const a1 = 1_600_000_000_123;
      const m1 = 1_500_000_000_456;
      await fs().utimes(f, a1, m1);
      let st = await fs().stat(f);
      t.same(
        [sec(st.atimeMs), sec(st.mtimeMs)],
        [sec(a1), sec(m1)],
        'atime reads back as set, not as the mtime',
      );
      await fs().utimes(f, OLD_MS, null);
      st = await fs().stat(f);
      t.same([sec(st.atimeMs), sec(st.mtimeMs)], [sec(OLD_MS), sec(m1)], 'atime alone');
      await fs().utimes(f, null, a1);
      st = await fs().stat(f);
      t.same([sec(st.atimeMs), sec(st.mtimeMs)], [sec(OLD_MS), sec(a1)], 'mtime alone');
      await fs().readFile(f);
      t.equal(sec((await fs().stat(f)).atimeMs), sec(OLD_MS), 'a read leaves the atime (noatime)');
      await fs().mkdir(`${d}/dir`);
      await fs().utimes(`${d}/dir`, a1, m1);
      st = await fs().stat(`${d}/dir`);
      t.same([sec(st.atimeMs), sec(st.mtimeMs)], [sec(a1), sec(m1)], 'folders too');
    });

    t.test('a folder: link count 2 + subfolders; times move with its entries', async (t) => {
      const d = await caseDir();
      t.equal((await fs().stat(d)).nlink, 2, 'empty');
      await fs().mkdir(`${d}/a`);
      await fs().mkdir(`${d}/b`);
      await put(`${d}/f`, Buffer.from('f'));
      await fs().symlink('a', `${d}/l`);
      t.equal((await fs().stat(d)).nlink, 4, 'two subfolders; files and symlinks do not count');
      t.equal((await fs().stat(`${d}/a`)).nlink, 2, 'a leaf');
      await fs().rename(`${d}/b`, `${d}/a/b`);
      t.equal((await fs().stat(d)).nlink, 3, 'one moved out');
      t.equal((await fs().stat(`${d}/a`)).nlink, 3, 'and in');
      await fs().rmdir(`${d}/a/b`);
      t.equal((await fs().stat(`${d}/a`)).nlink, 2, 'removed');

      const steps: [string, () => Promise<unknown>][] = [
        ['create', () => put(`${d}/new`, Buffer.from('n'))],
        ['mkdir', () => fs().mkdir(`${d}/sub`)],
        ['symlink', () => fs().symlink('x', `${d}/l2`)],
        ['rename within', () => fs().rename(`${d}/new`, `${d}/renamed`)],
        ['unlink', () => fs().unlink(`${d}/renamed`)],
        ['rmdir', () => fs().rmdir(`${d}/sub`)],
        ['rename out', () => fs().rename(`${d}/f`, `${d}/a/f`)],
      ];
      for (const [what, step] of steps) {
        await fs().utimes(d, OLD_MS, OLD_MS);
        const before = await fs().stat(d);
        await step();
        const after = await fs().stat(d);
        t.ok(after.mtimeMs > OLD_MS, `${what}: the folder's mtime moved`);
        t.ok(after.ctimeMs >= before.ctimeMs, `${what}: its ctime did not go back`);
      }
      await fs().utimes(`${d}/a`, OLD_MS, OLD_MS);
      await fs().rename(`${d}/l`, `${d}/a/l`);
      t.ok((await fs().stat(`${d}/a`)).mtimeMs > OLD_MS, 'rename in: the target folder moved too');
    });

    t.test('chown: to the owner, unchanged ids; root gives a file away, as on ext4', async (t) => {
      const d = await caseDir();
      const f = `${d}/f`;
      await put(f, Buffer.from('x'));
      const st = await fs().stat(f);
      await t.resolves(fs().chown(f, st.uid, st.gid), 'to the current owner and group');
      await t.resolves(fs().chown(f, -1, -1), 'ids unchanged');
      await t.resolves(fs().chown(d, st.uid, st.gid), 'a folder');
      await t.rejects(fs().chown(`${d}/missing`, st.uid, st.gid), { code: 'ENOENT' });
      if (st.uid === 0) {
        await t.resolves(fs().chown(f, 1234, 5678), 'root gives a file away (accepted)');
        const after = await fs().stat(f);
        t.same([after.uid, after.gid], [1234, 5678], 'stored (device-local): stat shows the new owner');
        await t.resolves(fs().chown(f, -1, 0), 'chgrp only');
        const back = await fs().stat(f);
        t.same([back.uid, back.gid], [1234, 0], 'the uid stays');
      }
    });

    t.test('sizes a truncate cannot make: EFBIG; ftruncate of a read-only handle: EINVAL', async (t) => {
      const d = await caseDir();
      const f = `${d}/f`;
      await put(f, Buffer.from('abc'));
      await t.rejects(fs().truncate(f, 2 ** 50), { code: 'EFBIG' });
      const ro = await fs().open(f, 'r');
      await t.rejects(fs().ftruncate(ro, 1), { code: 'EINVAL' });
      await fs().close(ro);
      t.equal((await fs().readFile(f)).toString(), 'abc', 'unchanged');
    });

    t.test('writing and truncating bump mtime and ctime', async (t) => {
      const d = await caseDir();
      const f = `${d}/f`;
      await put(f, Buffer.from('before'));
      await fs().utimes(f, OLD_MS, OLD_MS);
      const old = await fs().stat(f);
      t.equal(sec(old.mtimeMs), sec(OLD_MS));
      await sleep(1100); // ctime may only have whole seconds
      const t0 = Date.now();
      const fh = await fs().open(f, 'r+');
      await fs().write(fh, Buffer.from('after!'), 0);
      await fs().close(fh);
      const st = await fs().stat(f);
      t.ok(st.mtimeMs > OLD_MS, 'mtime moved on');
      t.ok(Math.abs(st.mtimeMs - t0) < 5000, `mtime is about now (${st.mtimeMs} vs ${t0})`);
      t.ok(sec(st.ctimeMs) > sec(old.ctimeMs), `ctime bumped (${old.ctimeMs} -> ${st.ctimeMs})`);

      await fs().utimes(f, OLD_MS, OLD_MS);
      await fs().truncate(f, 2);
      t.ok((await fs().stat(f)).mtimeMs > OLD_MS, 'truncate moves mtime');
      await fs().utimes(f, OLD_MS, OLD_MS);
      const h = await fs().open(f, 'r+');
      await fs().ftruncate(h, 1);
      await fs().close(h);
      t.ok((await fs().stat(f)).mtimeMs > OLD_MS, 'ftruncate moves mtime');
    });

    t.test('symlinks, hard links, special files', async (t) => {
      const d = await caseDir();
      await put(`${d}/target.txt`, Buffer.from('pointed at'));
      await fs().symlink('target.txt', `${d}/rel`);
      await fs().symlink('/some/absolute/place', `${d}/abs`);
      await fs().symlink('../dangling/ü ✓', `${d}/dangling`);
      t.equal(await fs().readlink(`${d}/rel`), 'target.txt');
      t.equal(await fs().readlink(`${d}/abs`), '/some/absolute/place');
      t.equal(await fs().readlink(`${d}/dangling`), '../dangling/ü ✓');
      const l = await fs().stat(`${d}/rel`);
      t.match(l, { isSymlink: true, isFile: false, isDir: false });
      t.equal((await fs().stat(`${d}/dangling`)).isSymlink, true, 'lstat of a dangling link');
      t.same((await fs().readdir(d)).sort(), ['abs', 'dangling', 'rel', 'target.txt']);
      await t.rejects(fs().symlink('elsewhere', `${d}/rel`), { code: 'EEXIST' });
      await t.rejects(fs().symlink('elsewhere', `${d}/target.txt`), { code: 'EEXIST' });
      await t.rejects(fs().readlink(`${d}/target.txt`), { code: 'EINVAL' });
      await t.rejects(fs().readlink(`${d}/missing`), { code: 'ENOENT' });
      await fs().rename(`${d}/rel`, `${d}/rel2`);
      t.equal(await fs().readlink(`${d}/rel2`), 'target.txt', 'a renamed link keeps its target');
      await fs().unlink(`${d}/rel2`);
      await t.rejects(fs().stat(`${d}/rel2`), { code: 'ENOENT' });
      t.equal(
        (await fs().readFile(`${d}/target.txt`)).toString(),
        'pointed at',
        'unlink removed the link only',
      );

      // Hard links are refused as on a file system without them (vfat): EPERM.
      t.equal(await codeOf(fs().link(`${d}/target.txt`, `${d}/hard`)), 'EPERM', 'link refused');
      await t.rejects(fs().stat(`${d}/hard`), { code: 'ENOENT' }, 'no link left behind');
      t.equal((await fs().stat(`${d}/target.txt`)).nlink, 1);

      const adapter = fs();
      if (adapter.mknod) {
        const code = await codeOf(adapter.mknod(`${d}/fifo`));
        t.equal(code, 'EPERM', `mknod refused (${code})`);
        await t.rejects(fs().stat(`${d}/fifo`), { code: 'ENOENT' }, 'no fifo left behind');
      }
    });

    t.test('names: length limits, unicode, spaces', async (t) => {
      const d = await caseDir();
      const n255 = 'a'.repeat(255);
      const n256 = 'a'.repeat(256);
      const u255 = 'é'.repeat(127) + 'a'; // 255 bytes in UTF-8, 128 characters
      const u256 = 'é'.repeat(128); // 256 bytes in UTF-8, 128 characters
      t.equal(Buffer.byteLength(u255), 255);
      t.equal(Buffer.byteLength(u256), 256);

      await t.rejects(fs().open(`${d}/${n256}`, 'w'), { code: 'ENAMETOOLONG' });
      await t.rejects(fs().mkdir(`${d}/${n256}`), { code: 'ENAMETOOLONG' });
      await t.rejects(fs().open(`${d}/${u256}`, 'w'), { code: 'ENAMETOOLONG' });
      await t.rejects(fs().mkdir(`${d}/${u256}`), { code: 'ENAMETOOLONG' });
      t.same(await fs().readdir(d), [], 'nothing created');

      await put(`${d}/${n255}`, Buffer.from('long'));
      await fs().mkdir(`${d}/${u255}`);
      t.equal((await fs().readFile(`${d}/${n255}`)).toString(), 'long');
      t.ok((await fs().stat(`${d}/${u255}`)).isDir);
      t.same((await fs().readdir(d)).sort(), [n255, u255].sort());
      await t.rejects(fs().rename(`${d}/${n255}`, `${d}/${n256}`), { code: 'ENAMETOOLONG' });
      t.equal((await fs().readFile(`${d}/${n255}`)).toString(), 'long', 'failed rename changed nothing');

      const names = ['with space.txt', ' leading and trailing ', 'ünïcødé ✓.txt', '日本語', 'emoji 😀'];
      for (const n of names) await put(`${d}/${u255}/${n}`, Buffer.from(`content of ${n}`));
      await fs().mkdir(`${d}/${u255}/dir ✓ with space`);
      t.same((await fs().readdir(`${d}/${u255}`)).sort(), [...names, 'dir ✓ with space'].sort());
      for (const n of names) {
        t.equal((await fs().readFile(`${d}/${u255}/${n}`)).toString(), `content of ${n}`, n);
      }
      await fs().rename(`${d}/${u255}/日本語`, `${d}/${u255}/dir ✓ with space/ñ moved`);
      t.equal((await fs().readFile(`${d}/${u255}/dir ✓ with space/ñ moved`)).toString(), 'content of 日本語');
      await fs().unlink(`${d}/${u255}/emoji 😀`);
      t.notOk((await fs().readdir(`${d}/${u255}`)).includes('emoji 😀'), 'unicode unlink');
    });

    t.test('fsync on a written handle', async (t) => {
      const d = await caseDir();
      const data = pseudoRandom(200 * KiB + 5, 41);
      const fh = await fs().open(`${d}/synced`, 'w');
      await fs().write(fh, data, 0);
      await t.resolves(fs().fsync(fh));
      await fs().write(fh, Buffer.from('more'), data.length);
      await t.resolves(fs().fsync(fh));
      await fs().close(fh);
      const got = await fs().readFile(`${d}/synced`);
      t.ok(got.equals(Buffer.concat([data, Buffer.from('more')])), 'content after fsync');
      const ro = await fs().open(`${d}/synced`, 'r');
      await t.resolves(fs().fsync(ro), 'fsync of a read-only handle resolves too');
      await fs().close(ro);
    });
  });
}
