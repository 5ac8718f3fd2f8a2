/**
 * Attributes (vfs/attributes.ts): which setattr calls write the mirror, and how (issue 17: tar's
 * fchown, fchmod and utimensat of every file it makes were a mirror transaction each, or two).
 */
import t from 'tap';
import type { MirrorNode } from '../../../src/client/mirror/mirror.js';
import { Attributes } from '../../../src/client/vfs/attributes.js';
import type { DirtyFile } from '../../../src/client/vfs/dirty-files.js';
import { Owners } from '../../../src/client/vfs/owners.js';

const S_IFREG = 0o100000;
const ME = { uid: 1000, gid: 1000 };

function setup(dirty?: Partial<DirtyFile>) {
  const calls: string[] = [];
  let depth = 0;
  const mirror = {
    updateLocal: (id: number, f: object) =>
      void calls.push(`updateLocal ${id} ${JSON.stringify(f)} @${depth}`),
    queueCommit: (id: number, _p: string, f: object) =>
      void calls.push(`queueCommit ${id} ${JSON.stringify(f)} @${depth}`),
    setAtime: (id: number, at: number) => void calls.push(`setAtime ${id} ${at} @${depth}`),
    together: <T>(fn: () => T): T => {
      calls.push('together');
      depth++;
      try {
        return fn();
      } finally {
        depth--;
      }
    },
  };
  const d = dirty ? ({ ctime: 0, writers: 0, modified: false, mtime: 0, ...dirty } as DirtyFile) : undefined;
  const owners = new Owners({ owners: () => [], setOwner: () => calls.push('setOwner') }, ME);
  let now = 5000;
  const attrs = new Attributes(mirror, { get: (id: number) => (id === 7 ? d : undefined) }, owners, {
    groups: new Set([ME.gid]),
    now: () => now,
    onQueued: () => calls.push('queued'),
  });
  const node: MirrorNode = {
    id: 7,
    serverId: null,
    parentId: 1,
    name: 'f',
    kind: 'file',
    rev: 0,
    size: 3,
    mtime: 1000,
    mode: S_IFREG | 0o644,
    ctime: 1000,
    staging: 's',
    atime: null,
  };
  return { calls, attrs, node, d, tick: (ms: number) => (now += ms) };
}

t.test('chmod to the same mode moves the ctime only: no commit is queued', async (t) => {
  const { calls, attrs, node } = setup();
  attrs.chmod(node, '/f', 0o644);
  t.same(calls, ['updateLocal 7 {"ctime":5000} @0']);
});

t.test('chmod to another mode queues a commit carrying it', async (t) => {
  const { calls, attrs, node } = setup();
  attrs.chmod(node, '/f', 0o600);
  t.same(calls, [`queueCommit 7 {"mode":${S_IFREG | 0o600},"ctime":5000} @0`, 'queued']);
});

t.test('a ctime-only change of a file being written stays in memory until its close', async (t) => {
  const { calls, attrs, node, d, tick } = setup({ writers: 1, modified: true, ctime: 4000 });
  attrs.chown(node, '/f', ME.uid, ME.gid, ME);
  attrs.chmod(node, '/f', 0o644);
  t.same(calls, [], 'no mirror write: the close is a commit point, which writes the ctime');
  t.equal(d!.ctime, 5000, 'the ctime moved (stat shows the larger of the node and the staging)');
  tick(-10); // a clock that stepped back: the ctime never goes back
  attrs.chown(node, '/f', -1, -1, ME);
  t.equal(d!.ctime, 5000);
});

t.test('a ctime-only change of a file no close will commit goes to the mirror', async (t) => {
  for (const dirty of [
    { writers: 0, modified: true },
    { writers: 1, modified: false },
  ]) {
    const { calls, attrs, node, d } = setup(dirty);
    attrs.chown(node, '/f', ME.uid, ME.gid, ME);
    t.same(calls, ['updateLocal 7 {"ctime":5000} @0'], JSON.stringify(dirty));
    t.equal(d!.ctime, 0);
  }
});

t.test('utimens writes both times in one transaction', async (t) => {
  const { calls, attrs, node } = setup();
  attrs.utimens(node, '/f', 1234.9, 2345.2);
  t.same(calls, ['together', 'setAtime 7 1234 @1', 'queueCommit 7 {"mtime":2345,"ctime":5000} @1', 'queued']);
});

t.test('chmod and futimens of a file being written stay in memory until its close', async (t) => {
  const { calls, attrs, node, d, tick } = setup({ writers: 1, modified: true, ctime: 4000, mtime: 4500 });
  attrs.chmod(node, '/f', 0o600);
  attrs.utimens(node, '/f', null, 2345.7);
  t.same(calls, [], 'no mirror write: the close is a commit point, which records mode and mtime');
  t.equal(d!.mode, S_IFREG | 0o600, 'the mode stat shows (stat.ts)');
  t.equal(d!.mtime, 2345);
  t.equal(d!.ctime, 5000);
  tick(10);
  attrs.chmod(node, '/f', 0o600);
  t.same(calls, [], 'the same mode again: nothing');
  t.equal(d!.ctime, 5010);
  attrs.utimens(node, '/f', 1111, 2222);
  t.same(
    calls,
    ['together', 'setAtime 7 1111 @1', 'queueCommit 7 {"mtime":2222,"ctime":5010} @1', 'queued'],
    'with an atime: recorded now (the atime is the mirror’s only)',
  );
});

t.test('chmod of a file no close will commit is recorded now', async (t) => {
  const { calls, attrs, node, d } = setup({ writers: 1, modified: false });
  attrs.chmod(node, '/f', 0o600);
  t.same(calls, [`queueCommit 7 {"mode":${S_IFREG | 0o600},"ctime":5000} @0`, 'queued']);
  t.equal(d!.mode, undefined);
});
