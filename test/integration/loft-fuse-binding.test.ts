/**
 * native/loft-fuse.cc on its own, through a real mount of a tiny file system served by this test:
 * the caller's pid/uid/gid on every request, exactly one answer per request (a second one throws,
 * one never given is answered EIO once the request is collected), non-"user." xattrs answered in C,
 * 1 MiB writes, and the loop's end reported after an unmount from outside. Needs root (a mount with
 * allow_other served to another uid).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import v8 from 'node:v8';
import vm from 'node:vm';
import t from 'tap';
import { loadLowlevelBinding } from '../../src/client/fuse/lowlevel-binding.js';
import { forceUnmount } from '../helpers/mount-process.js';

const run = promisify(execFile);
const asRoot = process.getuid?.() === 0;
const NOBODY = 65534;
const FILE_INO = 2;
const SLOW_INO = 3;
const ATTR_LEN = 11;

const attr = (ino: number, mode: number, size: number): Float64Array => {
  const a = new Float64Array(ATTR_LEN);
  a.set([ino, mode, 1, 0, 0, size, Math.ceil(size / 512), 4096, 0, 0, 0]);
  return a;
};

// Both request loops: the JavaScript thread reading /dev/fuse (the drive's) and libfuse's workers.
for (const jsLoop of [true, false])
  t.test(
    `the binding through a real mount (${jsLoop ? 'JavaScript thread loop' : 'worker threads'})`,
    { skip: !asRoot && 'needs root' },
    async (t) => {
      const b = loadLowlevelBinding();
      const root = mkdtempSync(path.join(os.tmpdir(), 'loft-fuse-binding-'));
      const mnt = path.join(root, 'mnt');
      await run('mkdir', ['-m', '0755', mnt]);
      await run('chmod', ['0755', root]);
      t.teardown(() => {
        forceUnmount(mnt);
        rmSync(root, { recursive: true, force: true });
      });

      const callers: { op: number; pid: number; uid: number; gid: number }[] = [];
      const writes: number[] = [];
      let doubleReply: unknown = null;
      let exited: () => void = () => {};
      const exit = new Promise<void>((resolve) => (exited = resolve));
      const session = b.mount(
        mnt,
        ['-o', 'fsname=bindingtest,allow_other'],
        (op, req, ino, a, bb, _c, _d, pid = 0, uid = 0, gid = 0) => {
          if (req === null) {
            if (op === 101) exited();
            return;
          }
          callers.push({ op, pid, uid, gid });
          switch (op) {
            case 1: // lookup
              if (a === 'file') return void b.replyEntry(req, FILE_INO, attr(FILE_INO, 0o100666, 0), 0, 0);
              if (a === 'slow') return void b.replyEntry(req, SLOW_INO, attr(SLOW_INO, 0o100666, 0), 0, 0);
              return void b.replyErr(req, 2);
            case 3: // getattr
              b.replyAttr(req, ino === 1 ? attr(1, 0o40755, 0) : attr(ino, 0o100666, 0), 0);
              try {
                b.replyErr(req, 5);
              } catch (err) {
                doubleReply = err;
              }
              return;
            case 13: // open
              return void b.replyOpen(req, ino, 1 /* direct_io */);
            case 14: // read: the slow file's reads are dropped without an answer
              if (ino === SLOW_INO) return;
              return void b.replyBuf(req, null);
            case 15: // write
              writes.push((bb as Buffer).length);
              return void b.replyWrite(req, (bb as Buffer).length);
            case 2:
            case 28:
              return void b.replyNone(req);
            case 23: // getxattr of user.* only
              return void b.replyErr(req, 61);
            default:
              return void b.replyErr(req, op === 16 || op === 17 ? 0 : 38);
          }
        },
        { jsLoop },
      );

      // A child process's stat arrives with its pid, uid and gid.
      const child = execFile('setpriv', [
        `--reuid=${NOBODY}`,
        `--regid=${NOBODY}`,
        '--clear-groups',
        'stat',
        path.join(mnt, 'file'),
      ]);
      const childPid = child.pid;
      await new Promise((resolve) => child.once('exit', resolve));
      t.ok(
        callers.some((c) => c.op === 1 && c.pid === childPid && c.uid === NOBODY && c.gid === NOBODY),
        'a lookup carries the caller (pid, uid, gid)',
      );
      t.match(String(doubleReply), /already answered/, 'a second answer throws');

      // 1 MiB requests: a direct_io write of 4 MiB arrives in 1 MiB pieces.
      await run('dd', [
        'if=/dev/zero',
        `of=${path.join(mnt, 'file')}`,
        'bs=4M',
        'count=1',
        'oflag=direct',
        'conv=notrunc',
      ]);
      t.same(writes, [1 << 20, 1 << 20, 1 << 20, 1 << 20], 'writes arrive as 1 MiB requests');

      // Other namespaces never reach JavaScript.
      const before = callers.length;
      const xattr = await run('getfattr', ['-n', 'security.selinux', path.join(mnt, 'file')]).catch(
        (e: { stderr: string }) => e,
      );
      t.match(
        (xattr as { stderr: string }).stderr,
        /Operation not supported/,
        'security.* answered EOPNOTSUPP',
      );
      t.notOk(
        callers.slice(before).some((c) => c.op === 23),
        'without a JavaScript round trip',
      );

      // A request dropped without an answer is answered EIO once its handle is collected.
      const reader = run('dd', [
        `if=${path.join(mnt, 'slow')}`,
        'of=/dev/null',
        'bs=4k',
        'count=1',
        'iflag=direct',
      ]).then(
        () => 'read',
        (e: { stderr: string }) => e.stderr,
      );
      let outcome: string | null = null;
      void reader.then((o) => (outcome = o));
      // A full collection after the request reached JavaScript (one per turn until the reader is done).
      v8.setFlagsFromString('--expose-gc');
      const gc = vm.runInNewContext('gc') as () => void;
      while (outcome === null) {
        await new Promise((r) => setImmediate(r));
        gc();
      }
      t.match(await reader, /Input\/output error/, 'an unanswered read fails with EIO, it does not hang');

      // Unmounted from outside: the binding reports the end of its loop.
      await run('fusermount', ['-u', '-z', mnt]);
      await exit;
      t.equal(b.pending(session), 0, 'nothing left waiting for an answer');
    },
  );
