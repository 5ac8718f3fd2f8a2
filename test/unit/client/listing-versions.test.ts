/**
 * A folder's listing version (mirror/listing-versions.ts) moves with every change of its names or
 * types, local or remote, and with nothing else: the mount keeps the kernel's cached listing of a
 * folder only while it is unchanged (fuse/dir-handles.ts).
 */
import path from 'node:path';
import t from 'tap';
import { Mirror } from '../../../src/client/mirror/mirror.js';
import type { BlockRef, RevisionOp } from '../../../src/shared/protocol.js';
import { tmpDirs } from './fake-block-source.js';
import { revision } from './revisions.js';

const tmp = tmpDirs(t, 'loft-listing-');
const ROOT = 1;
const H = (c: string) => c.repeat(64).slice(0, 64);

const r = (
  op: RevisionOp,
  id: number,
  parentId: number,
  name: string,
  kind: 'file' | 'dir',
  blocks?: BlockRef[],
) => revision(op, id, parentId, name, { kind, ...(blocks ? { blocks } : {}) });

t.test('every change of a folder’s names or types moves its version, and nothing else does', async (t) => {
  const m = new Mirror(path.join(tmp(), 'mirror.db'));
  t.teardown(() => m.close());
  m.initialize({ server: 'http://127.0.0.1:7420', user: 'alice', ns: 7, rootId: ROOT });
  const blocks = [{ hash: H('a'), size: 10 }];
  m.applyChanges(
    [
      r('mkdir', 2, ROOT, 'a', 'dir'),
      r('mkdir', 3, ROOT, 'b', 'dir'),
      r('create', 4, 2, 'f', 'file', blocks),
    ],
    'c1',
    false,
  );
  const a = m.lookup('/a')!.id;
  const b = m.lookup('/b')!.id;
  const f = m.lookup('/a/f')!.id;
  const root = m.lookup('/')!.id;

  // Each step: what it does, and which folders' versions must move (all others must not).
  const versions = () => ({ root: m.listingVersion(root), a: m.listingVersion(a), b: m.listingVersion(b) });
  const step = (what: string, moved: ('root' | 'a' | 'b')[], fn: () => void) => {
    const before = versions();
    fn();
    const after = versions();
    for (const k of ['root', 'a', 'b'] as const)
      t.equal(
        after[k] !== before[k],
        moved.includes(k),
        `${what}: ${k} ${moved.includes(k) ? 'moved' : 'kept'}`,
      );
  };

  step('a remote content change', [], () =>
    m.applyChanges([r('commit', 4, 2, 'f', 'file', [{ hash: H('b'), size: 20 }])], 'c2', false),
  );
  step('a local attribute change', [], () => m.updateLocal(f, { mode: 0o600, mtime: 5, size: 3 }));
  step('a local create', ['a'], () => m.createLocal(a, 'g', 'file', 0o644, 1, '/a/g', null));
  step('a symlink made of a file (its type)', ['a'], () =>
    m.updateLocal(m.lookup('/a/g')!.id, { mode: 0o120777 }),
  );
  step('a local rename in place', ['a'], () =>
    m.moveLocal(m.lookup('/a/g')!.id, a, 'h', '/a/g', '/a/h', null),
  );
  step('a local move between folders', ['a', 'b'], () =>
    m.moveLocal(m.lookup('/a/h')!.id, b, 'h', '/a/h', '/b/h', null),
  );
  step('a local remove', ['b'], () => m.removeLocal(m.lookup('/b/h')!.id, '/b/h'));
  step('a remote create', ['b'], () => m.applyChanges([r('create', 5, 3, 'n', 'file', blocks)], 'c3', false));
  step('a remote move between folders', ['a', 'b'], () =>
    m.applyChanges([r('move', 4, 3, 'f2', 'file')], 'c4', false),
  );
  step('a remote delete', ['b'], () => m.applyChanges([r('delete', 5, 3, 'n', 'file')], 'c5', false));
  step('a folder moved into another (its .. changes too)', ['root', 'a', 'b'], () =>
    m.applyChanges([r('move', 2, 3, 'a', 'dir')], 'c6', false),
  );
});
