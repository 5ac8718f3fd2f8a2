/**
 * The server side of `loft check` (src/client/check/drive-check.ts) against a scripted source:
 * the tree read page by page, the journal after the drive's cursor read to its end (its first
 * revision, and the latest change of each node the tree lacks), and tombstones looked up only for
 * the nodes the journal does not name.
 */
import t from 'tap';
import { checkDrive, type CheckSource } from '../../../../src/client/check/drive-check.js';
import {
  contentDigest,
  type DriveSnapshot,
  type LocalEntry,
} from '../../../../src/client/check/tree-check.js';
import { LoftError } from '../../../../src/shared/errors.js';
import type { ChangesPage, Revision } from '../../../../src/shared/protocol.js';

const blocks = [{ hash: 'a'.repeat(64), size: 3 }];

function rev(
  id: number,
  r: number,
  parentId: number | null,
  name: string,
  extra: Partial<Revision> = {},
): Revision {
  return {
    rev: r,
    id,
    op: 'create',
    parentId,
    name,
    kind: 'file',
    deleted: false,
    size: 3,
    mtime: 0,
    mode: 0o644,
    blocks,
    device: null,
    time: 0,
    ...extra,
  };
}

function entry(id: number, path: string, r: number): LocalEntry {
  return {
    localId: id,
    path,
    kind: 'file',
    serverId: id,
    parentServerId: 1,
    name: path.slice(1),
    rev: r,
    size: 3,
    content: contentDigest(blocks),
    dirty: false,
  };
}

t.test('pages, the journal after the cursor, and lookups only for what it does not name', async (t) => {
  const root = rev(1, 0, null, '', { kind: 'dir', blocks: undefined, size: 0 });
  const tree = [root, ...Array.from({ length: 5 }, (_, i) => rev(10 + i, 2 + i, 1, `f${i}`))];
  // After the cursor: f0 changed (rev 20), node 30 deleted (rev 21), f9 made (rev 22).
  const journal: Revision[] = [
    rev(10, 20, 1, 'f0', { op: 'commit' }),
    rev(30, 21, 1, 'late-gone', { op: 'delete', deleted: true }),
    rev(19, 22, 1, 'f9'),
  ];
  tree[1] = journal[0]!;
  tree.push(journal[2]!);
  const calls: string[] = [];
  const source: CheckSource = {
    async tree(after, limit) {
      calls.push(`tree ${after}`);
      const rest = tree.filter((e) => e.id > after);
      const page = rest.slice(0, Math.min(limit, 4));
      return { entries: page, next: rest.length > page.length ? page[page.length - 1]!.id : null };
    },
    async changes(cursor): Promise<ChangesPage> {
      calls.push(`changes ${cursor}`);
      // Two pages: the first two entries, then the last.
      if (cursor === 'c') return { entries: journal.slice(0, 2), cursor: 'c2', hasMore: true };
      return { entries: journal.slice(2), cursor: 'c3', hasMore: false };
    },
    async nodeById(id) {
      calls.push(`node ${id}`);
      if (id === 31) return rev(31, 5, 1, 'old-gone', { op: 'delete', deleted: true });
      throw new LoftError('NOT_FOUND', `node ${id} does not exist`);
    },
  };
  const drive: DriveSnapshot = {
    server: 'http://s',
    user: 'u',
    cursor: 'c',
    synced: true,
    entries: [
      { ...entry(1, '/', 0), kind: 'dir', parentServerId: null, name: '', size: 0, content: null },
      ...Array.from({ length: 5 }, (_, i) => entry(10 + i, `/f${i}`, 2 + i)),
      entry(30, '/late-gone', 3),
      entry(31, '/old-gone', 3),
      entry(32, '/never', 3),
    ],
    ops: [],
    resync: [],
  };
  const { report, serverNodes, driveNodes } = await checkDrive(drive, source);
  t.same(calls.slice(0, 4), ['tree 0', 'tree 12', 'changes c', 'changes c2'], 'tree first, then the journal');
  t.same(calls.slice(4).sort(), ['node 31', 'node 32'], 'tombstones only of what the journal does not name');
  t.equal(serverNodes, 7);
  t.equal(driveNodes, 9);
  t.same(report.notPulled, [
    { path: '/f0', rev: 20, deleted: false },
    { path: '/late-gone', rev: 21, deleted: true },
    { path: '/f9', rev: 22, deleted: false },
  ]);
  t.same(
    report.differences.map((d) => [d.kind, d.path, d.deletedAt]),
    [
      ['extra', '/never', null],
      ['extra', '/old-gone', 5],
    ],
  );
  t.equal(report.matching, 4);
});

t.test('a refused token or an unreachable server is an error, not a report', async (t) => {
  const failing = (err: LoftError): CheckSource => ({
    tree: async () => {
      throw err;
    },
    changes: async () => ({ entries: [], cursor: '', hasMore: false }),
    nodeById: async () => {
      throw err;
    },
  });
  const drive: DriveSnapshot = {
    server: 's',
    user: 'u',
    cursor: '',
    synced: true,
    entries: [],
    ops: [],
    resync: [],
  };
  await t.rejects(checkDrive(drive, failing(new LoftError('UNAUTHORIZED', 'no'))), { code: 'UNAUTHORIZED' });
  await t.rejects(checkDrive(drive, failing(new LoftError('UNAVAILABLE', 'down'))), { code: 'UNAVAILABLE' });
});
