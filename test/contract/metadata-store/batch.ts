/**
 * MetadataStore contract: batches. Ops in order in one transaction, each atomic on its own
 * (a failed op leaves nothing, the others stand), references to earlier ops, inline blocks.
 */
import type { Test } from 'tap';
import type { BatchOp, BatchOutcome } from '../../../src/metastore/metadata-store.js';
import { LoftError } from '../../../src/shared/errors.js';
import { NOW, block, type MetaContext } from './fixture.js';

function codes(outcomes: BatchOutcome[]): (string | 'ok')[] {
  return outcomes.map((o) => (o.ok ? 'ok' : o.error.code));
}

export function batchContract(t: Test, ctx: MetaContext): void {
  t.test('batch: ops in order; a failing op is undone alone, the others stand', async (t) => {
    const { store, alice } = ctx;
    const b = block('hello');
    await store.recordUpload(alice.userId, b.hash, b.size, b.size, NOW);
    const head0 = await store.headSeq(alice.ns);
    const ns = alice.ns;
    const ops: BatchOp[] = [
      { op: 'mkdir', ns, place: { path: '/a' }, mtime: NOW, mode: 0o755, parents: false },
      {
        op: 'commit',
        ns,
        node: { path: '/a/x' },
        parentRev: null,
        blocks: [b],
        size: 5,
        mtime: NOW,
        mode: 0o644,
      },
      // Fails (EXISTS) between two that succeed.
      { op: 'mkdir', ns, place: { path: '/a' }, mtime: NOW, mode: 0o755, parents: false },
      // Fails after it made /new and /new/deep on its way: those go too.
      {
        op: 'commit',
        ns,
        node: { path: '/new/deep/y' },
        parentRev: null,
        blocks: [block('never sent')],
        size: 10,
        mtime: NOW,
        mode: 0o644,
      },
      { op: 'move', ns, node: { ref: 1 }, to: { parentRef: 0, name: 'z' }, overwrite: false },
    ];
    const out = await store.batch(alice.actor, ops);
    t.same(codes(out), ['ok', 'ok', 'EXISTS', 'BLOCK_UNUSABLE', 'ok']);
    const [mk, commit, , , mv] = out;
    t.match(mk, { ok: true, node: { name: 'a', kind: 'dir', op: 'mkdir' } });
    t.match(commit, { ok: true, node: { name: 'x', kind: 'file', op: 'create', size: 5 } });
    t.match(mv, { ok: true, node: { name: 'z', op: 'move' } });
    if (!mk?.ok || !commit?.ok || !mv?.ok) return;
    t.equal(mv.node.id, commit.node.id, 'the move took the node op #1 made');
    t.equal(mv.node.parentId, mk.node.id);
    const failed = out[2]!;
    t.ok(!failed.ok && failed.error instanceof LoftError);
    t.match(!failed.ok && failed.error.details, { id: mk.node.id, kind: 'dir' }, 'the single op’s details');
    t.equal(await store.getNode(ns, { path: '/new' }), null, 'the failed commit left no folder behind');
    // One revision per successful change, numbered without gaps.
    const journal = await store.readJournal(ns, head0, 100);
    t.same(
      journal.entries.map((e) => [e.rev, e.name, e.op]),
      [
        [head0 + 1, 'a', 'mkdir'],
        [head0 + 2, 'x', 'create'],
        [head0 + 3, 'z', 'move'],
      ],
    );
    t.equal(journal.head, head0 + 3);
  });

  t.test('batch: parentRef chains build a tree without knowing ids', async (t) => {
    const { store, alice } = ctx;
    const ns = alice.ns;
    const out = await store.batch(alice.actor, [
      { op: 'mkdir', ns, place: { path: '/p' }, mtime: NOW, mode: 0o755, parents: false },
      { op: 'mkdir', ns, place: { parentRef: 0, name: 'q' }, mtime: NOW, mode: 0o700, parents: false },
      { op: 'mkdir', ns, place: { parentRef: 1, name: 'r' }, mtime: NOW, mode: 0o755, parents: false },
      {
        op: 'commit',
        ns,
        node: { parentRef: 2, name: 'empty.txt' },
        parentRev: null,
        blocks: [],
        size: 0,
        mtime: NOW,
        mode: 0o600,
      },
    ]);
    t.same(codes(out), ['ok', 'ok', 'ok', 'ok']);
    t.match(await store.getNode(ns, { path: '/p/q/r/empty.txt' }), { kind: 'file', size: 0, mode: 0o600 });
    t.match(await store.getNode(ns, { path: '/p/q' }), { kind: 'dir', mode: 0o700 });
  });

  t.test('batch: an op on a failed op’s node fails with FAILED_DEPENDENCY and changes nothing', async (t) => {
    const { store, alice, write } = ctx;
    const ns = alice.ns;
    await write(alice, '/taken', ['file']);
    const out = await store.batch(alice.actor, [
      { op: 'mkdir', ns, place: { path: '/taken' }, mtime: NOW, mode: 0o755, parents: false },
      { op: 'mkdir', ns, place: { parentRef: 0, name: 'in' }, mtime: NOW, mode: 0o755, parents: false },
      { op: 'failed', ns, error: new LoftError('FORBIDDEN', 'no access') },
      { op: 'delete', ns, node: { ref: 2 }, recursive: false },
      { op: 'mkdir', ns, place: { path: '/fine' }, mtime: NOW, mode: 0o755, parents: false },
    ]);
    t.same(codes(out), ['EXISTS', 'FAILED_DEPENDENCY', 'FORBIDDEN', 'FAILED_DEPENDENCY', 'ok']);
    t.match(!out[1]!.ok && out[1]!.error.details, { ref: 0 });
    t.equal(await store.getNode(ns, { path: '/taken/in' }), null);
  });

  t.test('batch: a node named by ref defaults to the rev the batch left it at', async (t) => {
    const { store, alice } = ctx;
    const ns = alice.ns;
    const b = block('v1');
    const b2 = block('v2!');
    await store.recordUpload(alice.userId, b.hash, b.size, b.size, NOW);
    await store.recordUpload(alice.userId, b2.hash, b2.size, b2.size, NOW);
    const out = await store.batch(alice.actor, [
      {
        op: 'commit',
        ns,
        node: { path: '/f' },
        parentRev: null,
        blocks: [b],
        size: 2,
        mtime: NOW,
        mode: 0o644,
      },
      { op: 'move', ns, node: { ref: 0 }, to: { path: '/g' }, overwrite: false },
      { op: 'commit', ns, node: { ref: 0 }, blocks: [b2], size: 3, mtime: NOW, mode: 0o644 },
      { op: 'move', ns, node: { ref: 0 }, parentRev: 1, to: { path: '/h' }, overwrite: false },
      { op: 'delete', ns, node: { ref: 1 }, recursive: false },
    ]);
    t.same(codes(out), ['ok', 'ok', 'ok', 'CONFLICT', 'ok'], 'a parentRev given is checked as given');
    t.match(out[2], { ok: true, node: { name: 'g', op: 'commit', size: 3 } });
    t.match(out[4], { ok: true, node: { deleted: true }, deleted: [{ name: 'g', deleted: true }] });
    t.equal(await store.getNode(ns, { path: '/g' }), null);
  });

  t.test('batch: an inline block is recorded as sent by the actor, even when its commit fails', async (t) => {
    const { store, alice, bob } = ctx;
    const ns = alice.ns;
    const b = block('inline bytes');
    const bad = block('inline, but the op fails');
    t.notOk(await store.canReadBlock(alice.userId, b.hash));
    const out = await store.batch(alice.actor, [
      {
        op: 'commit',
        ns,
        node: { path: '/in.txt' },
        parentRev: null,
        blocks: [b],
        size: b.size,
        mtime: NOW,
        mode: 0o644,
        inline: { ...b, storedSize: b.size, seen: 'absent' },
      },
      {
        op: 'commit',
        ns,
        node: { path: '/in.txt' },
        parentRev: null,
        blocks: [bad],
        size: bad.size,
        mtime: NOW,
        mode: 0o644,
        inline: { ...bad, storedSize: bad.size, seen: 'absent' },
      },
    ]);
    t.same(codes(out), ['ok', 'CONFLICT']);
    t.match(out[0], { ok: true, node: { blocks: [b] } });
    t.ok(await store.canReadBlock(alice.userId, b.hash), 'alice may read what she sent');
    t.notOk(await store.canReadBlock(bob.userId, b.hash), 'bob may not');
    // The failed commit's block stays recorded, as after a PUT: its bytes are stored, and the
    // record is how collection finds them if nothing ever references them.
    t.equal(await store.blockState(bad.hash), 'live');
    t.same(await store.missingBlocks(alice.userId, [bad.hash]), [], 'a retry needs no inline');
  });

  t.test('batch: a recursive delete with expect answers what it kept', async (t) => {
    const { store, alice, write } = ctx;
    const ns = alice.ns;
    const x = await write(alice, '/d/x', ['x']);
    await write(alice, '/d/y', ['y']);
    const d = await store.getNode(ns, { path: '/d' });
    const out = await store.batch(alice.actor, [
      { op: 'delete', ns, node: { path: '/d' }, parentRev: d!.rev, recursive: true, expect: [[x.id, x.rev]] },
    ]);
    t.same(codes(out), ['ok']);
    t.match(out[0], { ok: true, node: { id: d!.id, deleted: false }, deleted: [{ name: 'x' }] });
    t.same(out[0]!.ok && out[0]!.kept!.map((r) => r.name), ['d', 'y']);
  });

  t.test('batch: ops in several namespaces; roles are the caller’s to check', async (t) => {
    const { store, alice, bob } = ctx;
    const out = await store.batch(alice.actor, [
      { op: 'mkdir', ns: bob.ns, place: { path: '/from-alice' }, mtime: NOW, mode: 0o755, parents: false },
      { op: 'mkdir', ns: alice.ns, place: { path: '/mine' }, mtime: NOW, mode: 0o755, parents: false },
      { op: 'mkdir', ns: 999_999, place: { path: '/nowhere' }, mtime: NOW, mode: 0o755, parents: false },
    ]);
    t.same(codes(out), ['ok', 'ok', 'NOT_FOUND']);
    t.ok(await store.getNode(bob.ns, { path: '/from-alice' }));
    t.ok(await store.getNode(alice.ns, { path: '/mine' }));
  });

  t.test('batch: an empty batch changes nothing', async (t) => {
    const { store, alice } = ctx;
    const head = await store.headSeq(alice.ns);
    t.same(await store.batch(alice.actor, []), []);
    t.equal(await store.headSeq(alice.ns), head);
  });
}
