/**
 * The pure comparison of `loft check` (src/client/check/tree-check.ts) on plain snapshots: what is
 * a difference, what is only pending (local changes queued, server changes not pulled yet), what is
 * stuck, and when the drive is in sync.
 */
import t from 'tap';
import {
  compareTrees,
  contentDigest,
  type DriveSnapshot,
  type LocalEntry,
  type PendingOp,
  type ServerEntry,
  type ServerSnapshot,
} from '../../../../src/client/check/tree-check.js';

const A = contentDigest([{ hash: 'a'.repeat(64), size: 5 }]);
const B = contentDigest([{ hash: 'b'.repeat(64), size: 5 }]);

/** Server side: root 1, /docs (2, rev 3), /docs/a.txt (3, rev 4), /b.txt (4, rev 5). */
function serverTree(): ServerEntry[] {
  return [
    { serverId: 1, parentId: null, name: '', kind: 'dir', rev: 0, size: 0, content: null },
    { serverId: 2, parentId: 1, name: 'docs', kind: 'dir', rev: 3, size: 0, content: null },
    { serverId: 3, parentId: 2, name: 'a.txt', kind: 'file', rev: 4, size: 5, content: A },
    { serverId: 4, parentId: 1, name: 'b.txt', kind: 'file', rev: 5, size: 5, content: B },
  ];
}

function local(path: string, e: Partial<LocalEntry> & Pick<LocalEntry, 'serverId'>): LocalEntry {
  const name = path.slice(path.lastIndexOf('/') + 1);
  return {
    localId: e.serverId ?? -1,
    path,
    kind: 'file',
    parentServerId: 1,
    name,
    rev: 0,
    size: 0,
    content: null,
    dirty: false,
    ...e,
  };
}

/** The drive holding exactly the server tree. */
function driveTree(): LocalEntry[] {
  return [
    local('/', { serverId: 1, kind: 'dir', parentServerId: null, name: '' }),
    local('/docs', { serverId: 2, kind: 'dir', rev: 3 }),
    local('/docs/a.txt', { serverId: 3, parentServerId: 2, rev: 4, size: 5, content: A }),
    local('/b.txt', { serverId: 4, rev: 5, size: 5, content: B }),
  ];
}

function drive(entries = driveTree(), ops: PendingOp[] = [], resync: number[] = []): DriveSnapshot {
  return { server: 'http://s', user: 'u', cursor: 'c', synced: true, entries, ops, resync };
}

function server(
  entries = serverTree(),
  firstUnseen: number | null = null,
  gone: [number, number | null][] = [],
): ServerSnapshot {
  return { entries, firstUnseen, gone: new Map(gone) };
}

function op(o: Partial<PendingOp> & Pick<PendingOp, 'op' | 'path' | 'localId'>): PendingOp {
  return {
    toPath: null,
    serverId: o.localId > 0 ? o.localId : null,
    absorbed: [],
    attempts: 0,
    error: null,
    stuckSince: null,
    ...o,
  };
}

t.test('the same tree on both sides: in sync, every node but the root matching', async (t) => {
  const r = compareTrees(drive(), server());
  t.equal(r.inSync, true);
  t.equal(r.matching, 3);
  t.same(r.differences, []);
  t.same(r.pending, []);
  t.same(r.notPulled, []);
});

t.test('a server node the drive lacks at a cursor past it is missing', async (t) => {
  const r = compareTrees(drive(driveTree().filter((e) => e.path !== '/docs/a.txt')), server());
  t.equal(r.inSync, false);
  t.same(r.differences, [
    {
      kind: 'missing',
      path: '/docs/a.txt',
      local: null,
      server: { path: '/docs/a.txt', kind: 'file', rev: 4, size: 5 },
    },
  ]);
});

t.test('server changes after the cursor are pending (not pulled yet), not differences', async (t) => {
  const s = serverTree();
  s.push({ serverId: 9, parentId: 2, name: 'new.txt', kind: 'file', rev: 7, size: 1, content: A });
  s[3] = { ...s[3]!, rev: 8, size: 6, content: A }; // b.txt changed after the cursor
  // a.txt deleted on the server at rev 9, after the cursor.
  const r = compareTrees(
    drive(),
    server(
      s.filter((e) => e.serverId !== 3),
      7,
      [[3, 9]],
    ),
  );
  t.equal(r.inSync, false);
  t.same(r.differences, []);
  t.same(r.notPulled, [
    { path: '/docs/new.txt', rev: 7, deleted: false },
    { path: '/b.txt', rev: 8, deleted: false },
    { path: '/docs/a.txt', rev: 9, deleted: true },
  ]);
  t.equal(r.matching, 1, 'only /docs still matches');
});

t.test('a node the server deleted before the cursor, or never had, is extra', async (t) => {
  const entries = [...driveTree(), local('/old.txt', { serverId: 7, rev: 2, size: 3, content: A })];
  entries.push(local('/ghost', { serverId: 8, kind: 'dir', rev: 2 }));
  entries.push(local('/made-here.txt', { serverId: null, localId: -4 }));
  const r = compareTrees(
    drive(entries),
    server(serverTree(), 10, [
      [7, 6],
      [8, null],
    ]),
  );
  t.same(
    r.differences.map((d) => [d.kind, d.path, d.deletedAt]),
    [
      ['extra', '/ghost', null],
      ['extra', '/made-here.txt', undefined],
      ['extra', '/old.txt', 6],
    ],
  );
  t.same(r.differences[2]!.local, { path: '/old.txt', kind: 'file', rev: 2, size: 3 });
});

t.test('other revision, other content, other place, other kind', async (t) => {
  const s = serverTree();
  s[2] = { ...s[2]!, rev: 6, size: 7, content: B }; // a.txt newer on the server (rev ≤ cursor)
  s[3] = { ...s[3]!, content: A }; // b.txt: same rev, other blocks
  s.push({ serverId: 5, parentId: 1, name: 'moved', kind: 'dir', rev: 2, size: 0, content: null });
  s.push({ serverId: 6, parentId: 5, name: 'in.txt', kind: 'file', rev: 2, size: 1, content: A });
  s.push({ serverId: 10, parentId: 1, name: 'thing', kind: 'dir', rev: 2, size: 0, content: null });
  const d = [
    ...driveTree(),
    // The folder stands elsewhere here; what it holds matches (compared by folder id and name).
    local('/docs/old-name', { serverId: 5, parentServerId: 2, kind: 'dir', rev: 2 }),
    local('/docs/old-name/in.txt', { serverId: 6, parentServerId: 5, rev: 2, size: 1, content: A }),
    local('/thing', { serverId: 10, rev: 2, size: 0, content: A }),
  ];
  const r = compareTrees(drive(d), server(s));
  t.same(
    r.differences.map((x) => [x.kind, x.path, x.server?.path]),
    [
      ['content', '/b.txt', '/b.txt'],
      ['revision', '/docs/a.txt', '/docs/a.txt'],
      ['place', '/docs/old-name', '/moved'],
      ['kind', '/thing', '/thing'],
    ],
  );
  t.equal(r.matching, 2, '/docs and /moved/in.txt');
  t.same(r.differences[1]!.local, { path: '/docs/a.txt', kind: 'file', rev: 4, size: 5 });
  t.same(r.differences[1]!.server, { path: '/docs/a.txt', kind: 'file', rev: 6, size: 7 });
});

t.test('nodes with queued changes wait for them: pending, not differences', async (t) => {
  const d = driveTree();
  d[2] = { ...d[2]!, size: 9, content: B, dirty: true }; // a.txt edited here, commit queued
  d[3] = { ...d[3]!, dirty: true }; // b.txt open for writing, nothing queued yet
  d.push(local('/docs/new', { serverId: null, localId: -2, parentServerId: 2, kind: 'dir' }));
  d.push(local('/docs/new/n.txt', { serverId: null, localId: -3, parentServerId: null, dirty: true }));
  const ops = [
    op({ op: 'commit', path: '/docs/a.txt', localId: 3 }),
    op({ op: 'mkdir', path: '/docs/new', localId: -2 }),
    op({ op: 'commit', path: '/docs/new/n.txt', localId: -3 }),
  ];
  const r = compareTrees(drive(d, ops), server());
  t.same(r.differences, []);
  t.equal(r.inSync, false);
  t.same(
    r.pending.map((p) => [p.op, p.path]),
    [
      ['commit', '/docs/a.txt'],
      ['mkdir', '/docs/new'],
      ['commit', '/docs/new/n.txt'],
      ['write', '/b.txt'],
    ],
  );
  t.equal(r.unsettled, 3, 'a.txt, the new folder and its file');
});

t.test(
  'a folder deleted here (delete queued, with what it held) is pending on the server side',
  async (t) => {
    const d = driveTree().filter((e) => !e.path.startsWith('/docs'));
    const ops = [op({ op: 'delete', path: '/docs', localId: 2, absorbed: [3] })];
    const r = compareTrees(drive(d, ops), server());
    t.same(r.differences, []);
    t.equal(r.unsettled, 2, '/docs and /docs/a.txt wait for the delete');
    t.same(
      r.pending.map((p) => [p.op, p.path]),
      [['delete', '/docs']],
    );
  },
);

t.test('stuck ops are listed apart; a node to resync keeps the drive out of sync', async (t) => {
  const d = driveTree();
  d.push(local('/poison.txt', { serverId: null, localId: -5, dirty: true }));
  const ops = [
    op({ op: 'commit', path: '/poison.txt', localId: -5, attempts: 4, error: 'boom', stuckSince: 1000 }),
  ];
  const r = compareTrees(drive(d, ops, [4]), server());
  t.same(r.stuck, [
    { op: 'commit', path: '/poison.txt', toPath: null, attempts: 4, error: 'boom', since: 1000 },
  ]);
  t.same(r.pending, []);
  t.same(r.differences, []);
  t.equal(r.resync, 1);
  t.equal(r.inSync, false);
  // The skipped server node itself is no difference while its resync waits.
  const s = serverTree();
  s[3] = { ...s[3]!, rev: 6 };
  t.same(compareTrees(drive(driveTree(), [], [4]), server(s)).differences, []);
});

t.test('contentDigest depends on every hash, size and their order', async (t) => {
  const x = { hash: 'a'.repeat(64), size: 1 };
  const y = { hash: 'b'.repeat(64), size: 2 };
  t.not(contentDigest([x, y]), contentDigest([y, x]));
  t.not(contentDigest([x]), contentDigest([{ ...x, size: 2 }]));
  t.equal(contentDigest([x, y]), contentDigest([{ ...x }, { ...y }]));
  t.not(contentDigest([]), contentDigest([x]));
});
