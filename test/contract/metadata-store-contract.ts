/**
 * The MetadataStore contract: every implementation (SQLite now, PostgreSQL later) runs this suite.
 * `factory` returns a fresh, empty store; the suite closes it.
 */
import type { Test } from 'tap';
import type { Actor, MetadataStore } from '../../src/metastore/metadata-store.js';
import { sha256hex } from '../../src/shared/hash.js';
import type { BlockRef } from '../../src/shared/protocol.js';

export type MetadataStoreFactory = () => Promise<MetadataStore>;

const NOW = 1_700_000_000_000;

function block(text: string): BlockRef {
  return { hash: sha256hex(Buffer.from(text)), size: Buffer.byteLength(text) };
}

export function metadataStoreContract(t: Test, name: string, factory: MetadataStoreFactory): void {
  t.test(`${name}: MetadataStore contract`, async (t) => {
    let store: MetadataStore;
    let alice: { userId: number; ns: number; actor: Actor; rootId: number };
    let bob: { userId: number; ns: number; actor: Actor; rootId: number };

    async function user(name: string) {
      const u = await store.createUser(name, NOW);
      const deviceId = await store.addDevice(u.id, `${name}-laptop`, sha256hex(Buffer.from(name)), null, NOW);
      const root = await store.getNode(u.homeNs, { path: '/' });
      return { userId: u.id, ns: u.homeNs, actor: { userId: u.id, deviceId, now: NOW }, rootId: root!.id };
    }

    /** Uploads (records possession of) blocks for `who` and commits them at `path`. */
    async function write(who: typeof alice, path: string, texts: string[], parentRev: number | null = null) {
      const blocks = texts.map(block);
      for (const b of blocks) await store.recordUpload(who.userId, b.hash, b.size, b.size, NOW);
      return store.commitFile(who.actor, {
        ns: who.ns,
        node: { path },
        parentRev,
        blocks,
        size: blocks.reduce((n, b) => n + b.size, 0),
        mtime: NOW,
        mode: 0o644,
      });
    }

    t.beforeEach(async () => {
      store = await factory();
      alice = await user('alice');
      bob = await user('bob');
    });
    t.afterEach(async () => {
      await store.close();
    });

    t.test('users: unique names, a home namespace with a root they own', async (t) => {
      await t.rejects(store.createUser('alice', NOW), { code: 'EXISTS' });
      await t.rejects(store.createUser('../x', NOW), { code: 'BAD_REQUEST' });
      await t.rejects(store.createUser('', NOW), { code: 'BAD_REQUEST' });
      t.equal((await store.findUser('alice'))?.homeNs, alice.ns);
      t.equal(await store.findUser('nobody'), null);
      t.not(alice.ns, bob.ns);
      t.equal(await store.role(alice.userId, alice.ns), 'owner');
      t.equal(await store.role(alice.userId, bob.ns), null);
      const root = await store.getNode(alice.ns, { path: '/' });
      t.match(root, { kind: 'dir', parentId: null, deleted: false });
      t.equal(await store.headSeq(alice.ns), 0);
    });

    t.test('devices: authenticate by token hash; unknown and expired tokens fail', async (t) => {
      const p = await store.authenticate(sha256hex(Buffer.from('alice')), NOW);
      t.match(p, { userId: alice.userId, userName: 'alice', deviceName: 'alice-laptop', homeNs: alice.ns });
      t.equal(await store.authenticate(sha256hex(Buffer.from('mallory')), NOW), null);
      await store.addDevice(alice.userId, 'phone', 'f'.repeat(64), NOW + 1000, NOW);
      t.ok(await store.authenticate('f'.repeat(64), NOW + 999));
      t.equal(await store.authenticate('f'.repeat(64), NOW + 1000), null);
    });

    t.test('possession: missing reflects only the caller; other users never unlock a block', async (t) => {
      const b = block('secret');
      t.same(await store.missingBlocks(alice.userId, [b.hash, b.hash]), [b.hash]);
      await write(alice, '/s.txt', ['secret']);
      t.same(await store.missingBlocks(alice.userId, [b.hash]), []);
      t.equal(await store.canReadBlock(alice.userId, b.hash), true);
      // Bob knows the hash but never sent the bytes and cannot read Alice's namespace.
      t.same(await store.missingBlocks(bob.userId, [b.hash]), [b.hash]);
      t.equal(await store.canReadBlock(bob.userId, b.hash), false);
      await t.rejects(
        store.commitFile(bob.actor, {
          ns: bob.ns,
          node: { path: '/x' },
          parentRev: null,
          blocks: [b],
          size: b.size,
          mtime: NOW,
          mode: 0o644,
        }),
        { code: 'BLOCK_UNUSABLE', details: { missing: [b.hash] } },
      );
      t.equal(await store.headSeq(bob.ns), 0, 'nothing committed');
      // Once Bob sends the bytes himself, he may use the (deduplicated) block.
      t.equal(
        await store.recordUpload(bob.userId, b.hash, b.size, 0, NOW),
        true,
        'new for bob, whoever had it',
      );
      t.equal(await store.recordUpload(bob.userId, b.hash, b.size, 0, NOW), false, 'bob had it already');
      t.same(await store.missingBlocks(bob.userId, [b.hash]), []);
      t.ok(
        await store.commitFile(bob.actor, {
          ns: bob.ns,
          node: { path: '/x' },
          parentRev: null,
          blocks: [b],
          size: b.size,
          mtime: NOW,
          mode: 0o644,
        }),
      );
    });

    t.test('commit: block sizes must be true and add up to size', async (t) => {
      const b = block('abc');
      await store.recordUpload(alice.userId, b.hash, b.size, b.size, NOW);
      const base = { ns: alice.ns, node: { path: '/f' }, parentRev: null, mtime: NOW, mode: 0o644 };
      await t.rejects(
        store.commitFile(alice.actor, { ...base, blocks: [{ hash: b.hash, size: 4 }], size: 4 }),
        { code: 'BAD_REQUEST' },
      );
      await t.rejects(store.commitFile(alice.actor, { ...base, blocks: [b], size: 2 }), {
        code: 'BAD_REQUEST',
      });
      t.equal(await store.headSeq(alice.ns), 0);
    });

    t.test('commit: create, update with parentRev, conflict otherwise; history kept', async (t) => {
      const r1 = await write(alice, '/docs/a.txt', ['v1']);
      t.match(r1, {
        op: 'create',
        name: 'a.txt',
        kind: 'file',
        size: 2,
        deleted: false,
        device: 'alice-laptop',
      });
      t.same(r1.blocks, [block('v1')]);
      const docs = await store.getNode(alice.ns, { path: '/docs' });
      t.match(docs, { kind: 'dir', parentId: alice.rootId });
      t.equal(r1.parentId, docs!.id, 'missing parents are created');
      const r2 = await write(alice, '/docs/a.txt', ['v2', '!'], r1.rev);
      t.equal(r2.id, r1.id, 'same node');
      t.ok(r2.rev > r1.rev);
      t.equal(r2.op, 'commit');
      await t.rejects(write(alice, '/docs/a.txt', ['v3'], r1.rev), {
        code: 'CONFLICT',
        details: { currentRev: r2.rev },
      });
      await t.rejects(write(alice, '/docs/a.txt', ['v3'], null), {
        code: 'CONFLICT',
        details: { currentRev: r2.rev },
      });
      await t.rejects(write(alice, '/docs/b.txt', ['v3'], 5), { code: 'CONFLICT' });
      // By id.
      const b = block('v4');
      await store.recordUpload(alice.userId, b.hash, b.size, b.size, NOW);
      const r3 = await store.commitFile(alice.actor, {
        ns: alice.ns,
        node: { id: r1.id },
        parentRev: r2.rev,
        blocks: [b],
        size: 2,
        mtime: NOW + 5,
        mode: 0o600,
      });
      t.match(r3, { id: r1.id, mtime: NOW + 5, mode: 0o600 });
      await t.rejects(
        store.commitFile(alice.actor, {
          ns: alice.ns,
          node: { id: r1.id },
          parentRev: r2.rev,
          blocks: [b],
          size: 2,
          mtime: NOW,
          mode: 0o600,
        }),
        { code: 'CONFLICT' },
      );
      const history = await store.listRevisions(alice.ns, r1.id);
      t.same(
        history.map((h) => h.rev),
        [r1.rev, r2.rev, r3.rev],
      );
      t.same(history[0]!.blocks, [block('v1')], 'old revisions keep their block lists');
      // A file in the way of a directory, and a directory in the way of a file.
      await t.rejects(write(alice, '/docs/a.txt/x', ['y']), { code: 'NOT_DIR' });
      await t.rejects(write(alice, '/docs', ['y']), { code: 'IS_DIR' });
      await t.rejects(write(alice, '/', ['y']), { code: 'IS_DIR' });
    });

    t.test('commit: an empty file has no blocks', async (t) => {
      const r = await write(alice, '/empty', []);
      t.equal(r.size, 0);
      t.same(r.blocks, []);
    });

    t.test('mkdir: exists, parents, missing parent', async (t) => {
      const d = await store.mkdir(alice.actor, {
        ns: alice.ns,
        path: '/a',
        mtime: NOW,
        mode: 0o700,
        parents: false,
      });
      t.match(d, { op: 'mkdir', kind: 'dir', mode: 0o700, name: 'a' });
      await t.rejects(
        store.mkdir(alice.actor, { ns: alice.ns, path: '/a', mtime: NOW, mode: 0o755, parents: false }),
        {
          code: 'EXISTS',
          details: { id: d.id, kind: 'dir' },
        },
      );
      await t.rejects(
        store.mkdir(alice.actor, { ns: alice.ns, path: '/x/y', mtime: NOW, mode: 0o755, parents: false }),
        { code: 'NOT_FOUND' },
      );
      const deep = await store.mkdir(alice.actor, {
        ns: alice.ns,
        path: '/x/y/z',
        mtime: NOW,
        mode: 0o755,
        parents: true,
      });
      t.equal((await store.getNode(alice.ns, { path: '/x/y/z' }))?.id, deep.id);
      await t.rejects(
        store.mkdir(alice.actor, { ns: alice.ns, path: '/', mtime: NOW, mode: 0o755, parents: false }),
        { code: 'EXISTS' },
      );
      await t.rejects(
        store.mkdir(alice.actor, { ns: alice.ns, path: '/a/../b', mtime: NOW, mode: 0o755, parents: false }),
        { code: 'BAD_PATH' },
      );
    });

    t.test('by folder id: creates and moves follow the folder; a deleted folder is NOT_FOUND', async (t) => {
      const base = { ns: alice.ns, mtime: NOW, mode: 0o755, parents: false };
      const a = await store.mkdir(alice.actor, { ...base, path: '/a' });
      const b = await store.mkdir(alice.actor, { ...base, path: '/b' });
      // Another device renames /a to /c; a device that has not seen it yet places things in /a by id.
      await store.move(alice.actor, {
        ns: alice.ns,
        node: { id: a.id },
        parentRev: a.rev,
        toPath: '/c',
        overwrite: false,
      });
      const sub = await store.mkdir(alice.actor, { ...base, parentId: a.id, name: 'sub' });
      t.match(sub, { parentId: a.id, name: 'sub', kind: 'dir' });
      t.equal((await store.getNode(alice.ns, { path: '/c/sub' }))?.id, sub.id, 'mkdir followed the folder');
      t.equal(await store.getNode(alice.ns, { path: '/a' }), null, 'no new /a was made');
      await t.rejects(store.mkdir(alice.actor, { ...base, parentId: a.id, name: 'sub' }), {
        code: 'EXISTS',
        details: { id: sub.id, kind: 'dir' },
      });
      const blocks = [block('by id')];
      await store.recordUpload(alice.userId, blocks[0]!.hash, blocks[0]!.size, blocks[0]!.size, NOW);
      const commit = {
        ns: alice.ns,
        parentRev: null,
        blocks,
        size: blocks[0]!.size,
        mtime: NOW,
        mode: 0o644,
      };
      const f = await store.commitFile(alice.actor, { ...commit, node: { parentId: sub.id, name: 'f.txt' } });
      t.match(f, { op: 'create', parentId: sub.id, name: 'f.txt' });
      t.equal((await store.getNode(alice.ns, { path: '/c/sub/f.txt' }))?.id, f.id);
      await t.rejects(
        store.commitFile(alice.actor, { ...commit, node: { parentId: sub.id, name: 'f.txt' } }),
        {
          code: 'CONFLICT',
          details: { id: f.id, currentRev: f.rev },
        },
      );
      const m = await store.move(alice.actor, {
        ns: alice.ns,
        node: { id: f.id },
        parentRev: f.rev,
        toParentId: b.id,
        toName: 'g.txt',
        overwrite: false,
      });
      t.match(m, { id: f.id, parentId: b.id, name: 'g.txt', op: 'move' });
      await t.rejects(
        store.move(alice.actor, {
          ns: alice.ns,
          node: { id: a.id },
          parentRev: (await store.getNode(alice.ns, { id: a.id }))!.rev,
          toParentId: sub.id,
          toName: 'x',
          overwrite: false,
        }),
        { code: 'CYCLE' },
      );
      // Bad places: a file as the folder, a deleted folder, an unknown id, a bad name.
      await t.rejects(store.mkdir(alice.actor, { ...base, parentId: f.id, name: 'x' }), { code: 'NOT_DIR' });
      await store.remove(alice.actor, {
        ns: alice.ns,
        node: { id: sub.id },
        parentRev: sub.rev,
        recursive: true,
      });
      await t.rejects(store.mkdir(alice.actor, { ...base, parentId: sub.id, name: 'x' }), {
        code: 'NOT_FOUND',
        details: { id: sub.id, deleted: true },
      });
      await t.rejects(store.commitFile(alice.actor, { ...commit, node: { parentId: sub.id, name: 'h' } }), {
        code: 'NOT_FOUND',
        details: { deleted: true },
      });
      await t.rejects(store.mkdir(alice.actor, { ...base, parentId: 999_999, name: 'x' }), {
        code: 'NOT_FOUND',
      });
      await t.rejects(store.mkdir(alice.actor, { ...base, parentId: b.id, name: '..' }), {
        code: 'BAD_PATH',
      });
      await t.rejects(store.mkdir(alice.actor, { ...base, parentId: b.id, name: 'x/y' }), {
        code: 'BAD_PATH',
      });
      await t.rejects(store.mkdir(alice.actor, { ...base, parentId: bob.rootId, name: 'x' }), {
        code: 'NOT_FOUND',
      });
    });

    t.test('move: keeps the node id and blocks; overwrite rules; cycles refused', async (t) => {
      const f = await write(alice, '/a/f.txt', ['data']);
      const m = await store.move(alice.actor, {
        ns: alice.ns,
        node: { id: f.id },
        parentRev: f.rev,
        toPath: '/a/g.txt',
        overwrite: false,
      });
      t.match(m, { id: f.id, op: 'move', name: 'g.txt', size: 4 });
      t.same(m.blocks, f.blocks, 'content unchanged, nothing re-sent');
      t.equal(await store.getNode(alice.ns, { path: '/a/f.txt' }), null);
      await t.rejects(
        store.move(alice.actor, {
          ns: alice.ns,
          node: { id: f.id },
          parentRev: f.rev,
          toPath: '/a/h.txt',
          overwrite: false,
        }),
        { code: 'CONFLICT', details: { currentRev: m.rev } },
      );
      // Target exists.
      const other = await write(alice, '/a/other.txt', ['o']);
      await t.rejects(
        store.move(alice.actor, {
          ns: alice.ns,
          node: { id: f.id },
          parentRev: m.rev,
          toPath: '/a/other.txt',
          overwrite: false,
        }),
        { code: 'EXISTS', details: { id: other.id } },
      );
      await t.rejects(
        store.move(alice.actor, {
          ns: alice.ns,
          node: { id: f.id },
          parentRev: m.rev,
          toPath: '/a/other.txt',
          overwrite: true,
          targetRev: other.rev - 1,
        }),
        { code: 'CONFLICT' },
      );
      const over = await store.move(alice.actor, {
        ns: alice.ns,
        node: { id: f.id },
        parentRev: m.rev,
        toPath: '/a/other.txt',
        overwrite: true,
        targetRev: other.rev,
      });
      t.equal(over.id, f.id);
      t.match(
        await store.getNode(alice.ns, { id: other.id }),
        { deleted: true },
        'replaced target is a tombstone',
      );
      // Kinds.
      const dir = await store.mkdir(alice.actor, {
        ns: alice.ns,
        path: '/a/d',
        mtime: NOW,
        mode: 0o755,
        parents: false,
      });
      await t.rejects(
        store.move(alice.actor, {
          ns: alice.ns,
          node: { id: f.id },
          parentRev: over.rev,
          toPath: '/a/d',
          overwrite: true,
        }),
        { code: 'IS_DIR' },
      );
      await t.rejects(
        store.move(alice.actor, {
          ns: alice.ns,
          node: { id: dir.id },
          parentRev: dir.rev,
          toPath: '/a/other.txt',
          overwrite: true,
        }),
        { code: 'NOT_DIR' },
      );
      const full = await store.mkdir(alice.actor, {
        ns: alice.ns,
        path: '/full',
        mtime: NOW,
        mode: 0o755,
        parents: false,
      });
      await write(alice, '/full/x', ['x']);
      await t.rejects(
        store.move(alice.actor, {
          ns: alice.ns,
          node: { id: dir.id },
          parentRev: dir.rev,
          toPath: '/full',
          overwrite: true,
        }),
        { code: 'NOT_EMPTY' },
      );
      // Directory moves carry their subtree; a move below itself is a cycle.
      const a = await store.getNode(alice.ns, { path: '/a' });
      await t.rejects(
        store.move(alice.actor, {
          ns: alice.ns,
          node: { id: a!.id },
          parentRev: a!.rev,
          toPath: '/a/d/a',
          overwrite: false,
        }),
        { code: 'CYCLE' },
      );
      await t.rejects(
        store.move(alice.actor, {
          ns: alice.ns,
          node: { id: a!.id },
          parentRev: a!.rev,
          toPath: '/a/a',
          overwrite: false,
        }),
        { code: 'CYCLE' },
      );
      const moved = await store.move(alice.actor, {
        ns: alice.ns,
        node: { path: '/a' },
        parentRev: a!.rev,
        toPath: '/full/a',
        overwrite: false,
      });
      t.equal(moved.id, a!.id);
      t.equal((await store.getNode(alice.ns, { path: '/full/a/other.txt' }))?.id, f.id);
      t.equal(full.id, moved.parentId);
      await t.rejects(
        store.move(alice.actor, {
          ns: alice.ns,
          node: { path: '/' },
          parentRev: 0,
          toPath: '/r',
          overwrite: false,
        }),
        { code: 'BAD_REQUEST' },
      );
      await t.rejects(
        store.move(alice.actor, {
          ns: alice.ns,
          node: { path: '/nope' },
          parentRev: 0,
          toPath: '/r',
          overwrite: false,
        }),
        { code: 'NOT_FOUND' },
      );
      await t.rejects(
        store.move(alice.actor, {
          ns: alice.ns,
          node: { id: f.id },
          parentRev: over.rev,
          toPath: '/missing/x',
          overwrite: false,
        }),
        { code: 'NOT_FOUND' },
      );
    });

    t.test('remove: tombstones with history; non-empty needs recursive; deepest first', async (t) => {
      const f = await write(alice, '/d/e/f', ['f']);
      const d = await store.getNode(alice.ns, { path: '/d' });
      await t.rejects(
        store.remove(alice.actor, { ns: alice.ns, node: { id: d!.id }, parentRev: d!.rev, recursive: false }),
        { code: 'NOT_EMPTY' },
      );
      await t.rejects(
        store.remove(alice.actor, {
          ns: alice.ns,
          node: { id: f.id },
          parentRev: f.rev - 1,
          recursive: false,
        }),
        { code: 'CONFLICT' },
      );
      const gone = await store.remove(alice.actor, {
        ns: alice.ns,
        node: { path: '/d' },
        parentRev: d!.rev,
        recursive: true,
      });
      t.same(
        gone.map((r) => r.name),
        ['f', 'e', 'd'],
      );
      t.ok(gone.every((r) => r.deleted && r.op === 'delete'));
      t.equal(await store.getNode(alice.ns, { path: '/d' }), null);
      t.match(await store.getNode(alice.ns, { id: f.id }), { deleted: true, name: 'f' });
      const history = await store.listRevisions(alice.ns, f.id);
      t.same(
        history.map((r) => r.op),
        ['create', 'delete'],
      );
      t.same(history[0]!.blocks, [block('f')], 'the deleted content stays in history');
      await t.rejects(
        store.remove(alice.actor, {
          ns: alice.ns,
          node: { id: f.id },
          parentRev: gone[0]!.rev,
          recursive: false,
        }),
        { code: 'CONFLICT', details: { deleted: true } },
      );
      await t.rejects(
        store.commitFile(alice.actor, {
          ns: alice.ns,
          node: { id: f.id },
          parentRev: gone[0]!.rev,
          blocks: [],
          size: 0,
          mtime: NOW,
          mode: 0o644,
        }),
        { code: 'CONFLICT', details: { deleted: true } },
      );
      // The name is free again; a new file there is a new node.
      const again = await write(alice, '/d/e/f', ['new']);
      t.not(again.id, f.id);
      await t.rejects(
        store.remove(alice.actor, { ns: alice.ns, node: { path: '/' }, parentRev: 0, recursive: true }),
        { code: 'BAD_REQUEST' },
      );
    });

    t.test('remove with expect: one delete for a folder; what was not seen as it is stays', async (t) => {
      const a = await write(alice, '/x/a.txt', ['a']);
      const b = await write(alice, '/x/b.txt', ['b']);
      const c = await write(alice, '/x/sub/c.txt', ['c']);
      const x = await store.getNode(alice.ns, { path: '/x' });
      const sub = await store.getNode(alice.ns, { path: '/x/sub' });
      // What the deleting device saw: everything as above. Then, elsewhere: b edited, a file added.
      const seen: [number, number][] = [
        [a.id, a.rev],
        [b.id, b.rev],
        [sub!.id, sub!.rev],
        [c.id, c.rev],
      ];
      const b2 = await write(alice, '/x/b.txt', ['b2'], b.rev);
      const added = await write(alice, '/x/sub/new.txt', ['new']);
      const head = await store.headSeq(alice.ns);
      const gone = await store.remove(alice.actor, {
        ns: alice.ns,
        node: { id: x!.id },
        parentRev: x!.rev,
        recursive: true,
        expect: seen,
      });
      t.same(
        gone.map((r) => r.name),
        ['a.txt', 'c.txt'],
        'only what was seen as it is goes',
      );
      t.ok(
        gone.every((r, i) => r.rev === head + 1 + i),
        'in one run of the journal',
      );
      t.match(await store.getNode(alice.ns, { path: '/x/b.txt' }), { id: b.id, rev: b2.rev, deleted: false });
      t.match(await store.getNode(alice.ns, { path: '/x/sub/new.txt' }), { id: added.id, deleted: false });
      t.match(
        await store.getNode(alice.ns, { path: '/x/sub' }),
        { deleted: false },
        'a folder holding a kept node stays',
      );
      t.equal(await store.getNode(alice.ns, { path: '/x/a.txt' }), null);
      // Seen as it is now: the rest goes in one delete, deepest first, one batch for a restore.
      const rest = await store.remove(alice.actor, {
        ns: alice.ns,
        node: { id: x!.id },
        parentRev: x!.rev,
        recursive: true,
        expect: [
          [b.id, b2.rev],
          [sub!.id, sub!.rev],
          [added.id, added.rev],
        ],
      });
      t.same(
        rest.map((r) => r.name),
        ['b.txt', 'new.txt', 'sub', 'x'],
      );
      t.equal(await store.getNode(alice.ns, { path: '/x' }), null);
    });

    t.test('journal: every change once, in order, paginated; namespaces separate', async (t) => {
      const revs = [];
      for (let i = 0; i < 25; i++) revs.push(await write(alice, `/j/${i}`, [`${i}`]));
      await write(bob, '/bob', ['b']);
      const head = await store.headSeq(alice.ns);
      t.equal(head, 26, 'one mkdir + 25 creates');
      const seen = [];
      let after = 0;
      for (;;) {
        const page = await store.readJournal(alice.ns, after, 7);
        t.equal(page.head, head);
        if (page.entries.length === 0) break;
        t.ok(page.entries.length <= 7);
        seen.push(...page.entries);
        after = page.last;
      }
      t.same(
        seen.map((e) => e.rev),
        Array.from({ length: 26 }, (_, i) => i + 1),
      );
      t.same(
        seen.slice(1).map((e) => e.id),
        revs.map((r) => r.id),
      );
      t.ok(seen.every((e) => e.name !== 'bob'));
      t.same((await store.readJournal(alice.ns, head, 10)).entries, []);
      t.equal((await store.readJournal(bob.ns, 0, 10)).entries.length, 1);
    });

    t.test(
      'listTree: every live node once, by id, paged; tombstones and other namespaces left out',
      async (t) => {
        const a = await write(alice, '/t/a', ['a1', 'a2']);
        const gone = await write(alice, '/t/gone', ['g']);
        await store.remove(alice.actor, {
          ns: alice.ns,
          node: { id: gone.id },
          parentRev: gone.rev,
          recursive: false,
        });
        for (let i = 0; i < 5; i++) await write(alice, `/t/sub/f${i}`, [`f${i}`]);
        await write(bob, '/bob', ['b']);
        const seen: Awaited<ReturnType<typeof store.listTree>>['entries'] = [];
        let after = 0;
        let pages = 0;
        for (;;) {
          const page = await store.listTree(alice.ns, after, 3, 1000);
          pages++;
          t.ok(page.entries.length <= 3, 'at most limit nodes');
          seen.push(...page.entries);
          if (page.next === null) break;
          t.equal(page.next, page.entries[page.entries.length - 1]!.id, 'next is the last id');
          after = page.next;
        }
        const ids = seen.map((e) => e.id);
        t.same(
          ids,
          [...ids].sort((x, y) => x - y),
          'by id',
        );
        t.equal(new Set(ids).size, ids.length, 'each node once');
        t.equal(seen.length, 1 + 1 + 1 + 1 + 5, 'root, /t, /t/a, /t/sub and its 5 files');
        t.equal(pages, 3);
        t.notOk(ids.includes(gone.id), 'a tombstone is not listed');
        t.ok(
          seen.every((e) => !e.deleted && e.name !== 'bob'),
          'only live nodes of the namespace',
        );
        t.ok(
          seen.some((e) => e.parentId === null && e.id === alice.rootId),
          'the root is listed',
        );
        const fa = seen.find((e) => e.id === a.id)!;
        t.same(fa, await store.getNode(alice.ns, { id: a.id }), 'as the current revision, blocks included');
        t.equal(fa.blocks?.length, 2);
        // Block cap: a page stops once its block lists reach maxBlocks (but holds one node at least).
        const capped = await store.listTree(alice.ns, a.id - 1, 100, 1);
        t.same(
          capped.entries.map((e) => e.id),
          [a.id],
          'a 2-block file fills a page capped at 1 block',
        );
        t.equal(capped.next, a.id);
        t.same((await store.listTree(alice.ns, ids[ids.length - 1]!, 10, 1000)).entries, [], 'past the end');
        await t.rejects(store.listTree(999_999, 0, 10, 1000), { code: 'NOT_FOUND' });
      },
    );

    t.test('listChildren: live children only, by name', async (t) => {
      await write(alice, '/c/b', ['1']);
      const a = await write(alice, '/c/a', ['2']);
      await store.remove(alice.actor, {
        ns: alice.ns,
        node: { id: a.id },
        parentRev: a.rev,
        recursive: false,
      });
      await write(alice, '/c/c', ['3']);
      const c = await store.getNode(alice.ns, { path: '/c' });
      t.same(
        (await store.listChildren(alice.ns, c!.id)).map((r) => r.name),
        ['b', 'c'],
      );
      const root = await store.listChildren(alice.ns, alice.rootId);
      t.same(
        root.map((r) => r.name),
        ['c'],
      );
      const file = await store.getNode(alice.ns, { path: '/c/b' });
      await t.rejects(store.listChildren(alice.ns, file!.id), { code: 'NOT_DIR' });
    });

    /** Like `write`, at time `at` (retention and collection tests move time forward). */
    async function writeAt(
      who: typeof alice,
      path: string,
      texts: string[],
      parentRev: number | null,
      at: number,
    ) {
      const blocks = texts.map(block);
      for (const b of blocks) await store.recordUpload(who.userId, b.hash, b.size, b.size, at);
      return store.commitFile(
        { ...who.actor, now: at },
        {
          ns: who.ns,
          node: { path },
          parentRev,
          blocks,
          size: blocks.reduce((n, b) => n + b.size, 0),
          mtime: at,
          mode: 0o644,
        },
      );
    }

    async function del(who: typeof alice, id: number, at = NOW) {
      const node = await store.getNode(who.ns, { id });
      return store.remove(
        { ...who.actor, now: at },
        {
          ns: who.ns,
          node: { id },
          parentRev: node!.rev,
          recursive: true,
        },
      );
    }

    t.test('restore: a live file gets a new revision with the old content', async (t) => {
      const r1 = await write(alice, '/docs/a.txt', ['one']);
      const r2 = await write(alice, '/docs/a.txt', ['two!'], r1.rev);
      const head = await store.headSeq(alice.ns);
      const [r3, ...more] = await store.restore(alice.actor, {
        ns: alice.ns,
        node: { id: r1.id },
        rev: r1.rev,
      });
      t.same(more, []);
      t.match(r3, { id: r1.id, op: 'commit', size: 3, mtime: r1.mtime, mode: r1.mode, restoredFrom: r1.rev });
      t.same(r3!.blocks, r1.blocks, 'the old block list');
      t.equal(r3!.rev, head + 1, 'a new journal entry');
      t.same((await store.readJournal(alice.ns, head, 10)).entries, [r3]);
      t.match(await store.getNode(alice.ns, { path: '/docs/a.txt' }), { rev: r3!.rev, size: 3 });
      // By path (the node's current path); parentRev, when given, must be current.
      await t.rejects(
        store.restore(alice.actor, {
          ns: alice.ns,
          node: { path: '/docs/a.txt' },
          rev: r2.rev,
          parentRev: r2.rev,
        }),
        { code: 'CONFLICT', details: { currentRev: r3!.rev } },
      );
      const [r4] = await store.restore(alice.actor, {
        ns: alice.ns,
        node: { path: '/docs/a.txt' },
        rev: r2.rev,
        parentRev: r3!.rev,
      });
      t.same(r4!.blocks, [block('two!')]);
      t.same(
        (await store.listRevisions(alice.ns, r1.id)).map((r) => r.restoredFrom ?? null),
        [null, null, r1.rev, r2.rev],
      );
    });

    t.test(
      'restore: unknown revisions, revisions of other nodes, directories, other namespaces',
      async (t) => {
        const a = await write(alice, '/a', ['a']);
        const b = await write(alice, '/b', ['b']);
        const d = await store.getNode(alice.ns, { path: '/' });
        const head = await store.headSeq(alice.ns);
        const bad = [
          { node: { id: a.id }, rev: head + 5 },
          { node: { id: a.id }, rev: b.rev },
          { node: { path: '/a' }, rev: b.rev },
          { node: { path: '/nope' }, rev: a.rev },
          { node: { id: 999_999 }, rev: a.rev },
        ];
        for (const x of bad) {
          await t.rejects(
            store.restore(alice.actor, { ns: alice.ns, ...x }),
            { code: 'NOT_FOUND' },
            JSON.stringify(x),
          );
        }
        const dir = await store.mkdir(alice.actor, {
          ns: alice.ns,
          path: '/dir',
          mtime: NOW,
          mode: 0o755,
          parents: false,
        });
        await t.rejects(store.restore(alice.actor, { ns: alice.ns, node: { id: dir.id }, rev: dir.rev }), {
          code: 'IS_DIR',
        });
        await t.rejects(store.restore(alice.actor, { ns: alice.ns, node: { id: d!.id }, rev: 0 }), {
          code: 'IS_DIR',
        });
        await t.rejects(store.restore(bob.actor, { ns: bob.ns, node: { id: a.id }, rev: a.rev }), {
          code: 'NOT_FOUND',
        });
        await t.rejects(store.restore(alice.actor, { ns: alice.ns, node: { path: '/a/../b' }, rev: a.rev }), {
          code: 'BAD_PATH',
        });
        await t.rejects(
          store.restore(alice.actor, { ns: alice.ns, node: { id: a.id }, rev: a.rev, toPath: 'rel' }),
          { code: 'BAD_PATH' },
        );
        t.equal(await store.headSeq(alice.ns), head + 1, 'only the mkdir happened');
      },
    );

    t.test(
      'restore: a deleted file comes back as the same node; parents re-created; EXISTS; toPath',
      async (t) => {
        const f = await write(alice, '/p/q/f.txt', ['old']);
        const f2 = await write(alice, '/p/q/f.txt', ['newer'], f.rev);
        const p = await store.getNode(alice.ns, { path: '/p' });
        await del(alice, p!.id);
        t.equal(await store.getNode(alice.ns, { path: '/p' }), null);
        // The last path names it; the content of any kept revision comes back.
        const back = await store.restore(alice.actor, {
          ns: alice.ns,
          node: { path: '/p/q/f.txt' },
          rev: f.rev,
        });
        t.same(
          back.map((r) => [r.op, r.name, r.kind]),
          [
            ['mkdir', 'p', 'dir'],
            ['mkdir', 'q', 'dir'],
            ['create', 'f.txt', 'file'],
          ],
        );
        const file = back[2]!;
        t.equal(file.id, f.id, 'same node id');
        t.same(file.blocks, [block('old')]);
        t.not(back[0]!.id, p!.id, 'directories are new ones');
        t.match(await store.getNode(alice.ns, { path: '/p/q/f.txt' }), { id: f.id, deleted: false });
        // Deleted again, and another file takes the name: EXISTS, or restore beside it with toPath.
        await del(alice, f.id);
        const other = await write(alice, '/p/q/f.txt', ['other']);
        await t.rejects(store.restore(alice.actor, { ns: alice.ns, node: { id: f.id }, rev: f2.rev }), {
          code: 'EXISTS',
          details: { id: other.id, kind: 'file' },
        });
        const [copy] = await store.restore(alice.actor, {
          ns: alice.ns,
          node: { path: '/p/q/f.txt' },
          rev: f2.rev,
          toPath: '/p/q/f (restored).txt',
        });
        t.match(copy, { op: 'create', name: 'f (restored).txt', restoredFrom: f2.rev });
        t.not(copy!.id, f.id);
        t.same(copy!.blocks, [block('newer')]);
        await t.rejects(
          store.restore(alice.actor, { ns: alice.ns, node: { id: f.id }, rev: f2.rev, toPath: '/p/q/f.txt' }),
          { code: 'EXISTS' },
        );
        await t.rejects(
          store.restore(alice.actor, {
            ns: alice.ns,
            node: { id: f.id },
            rev: f2.rev,
            toPath: '/p/q/f.txt/x',
          }),
          { code: 'NOT_DIR' },
        );
        t.match(
          await store.getNode(alice.ns, { id: f.id }),
          { deleted: true },
          'the deleted node stays deleted',
        );
      },
    );

    t.test('restore of a deleted folder: it comes back with what its delete took, ids kept', async (t) => {
      const base = { ns: alice.ns, mtime: NOW, mode: 0o750, parents: true };
      const q = await store.mkdir(alice.actor, { ...base, path: '/p/q' });
      await write(alice, '/p/q/f1', ['one']);
      const f1 = await write(
        alice,
        '/p/q/f1',
        ['one, again'],
        (await store.getNode(alice.ns, { path: '/p/q/f1' }))!.rev,
      );
      const f2 = await write(alice, '/p/q/sub/f2', ['two']);
      const empty = await store.mkdir(alice.actor, { ...base, path: '/p/q/empty' });
      const old = await write(alice, '/p/q/old', ['deleted before']);
      await store.remove(alice.actor, {
        ns: alice.ns,
        node: { id: old.id },
        parentRev: old.rev,
        recursive: false,
      });
      const p = (await store.getNode(alice.ns, { path: '/p' }))!;
      await store.remove(alice.actor, {
        ns: alice.ns,
        node: { id: p.id },
        parentRev: p.rev,
        recursive: true,
      });
      const head = await store.headSeq(alice.ns);

      const revs = await store.restore(alice.actor, { ns: alice.ns, node: { id: q.id }, rev: q.rev });
      const folder = revs[revs.length - 1]!;
      t.match(folder, { id: q.id, kind: 'dir', op: 'mkdir', deleted: false, mode: 0o750, name: 'q' });
      const newP = (await store.getNode(alice.ns, { path: '/p' }))!;
      t.not(newP.id, p.id, 'the missing ancestor is a new directory');
      t.equal((await store.getNode(alice.ns, { path: '/p/q' }))?.id, q.id, 'the folder keeps its id');
      const back1 = (await store.getNode(alice.ns, { path: '/p/q/f1' }))!;
      t.match(back1, { id: f1.id, op: 'create', size: f1.size });
      t.same(back1.blocks, f1.blocks, 'a file comes back with its last content');
      t.equal((await store.getNode(alice.ns, { path: '/p/q/sub/f2' }))?.id, f2.id);
      t.equal((await store.getNode(alice.ns, { path: '/p/q/empty' }))?.id, empty.id, 'empty folders too');
      const stillOld = await store.getNode(alice.ns, { path: '/p/q/old' });
      t.ok(stillOld === null || stillOld.deleted, 'a file deleted before stays deleted');
      // Journal order: every node after its folder (the answer lists the folder's revision last).
      const journal = (await store.readJournal(alice.ns, head, 100)).entries;
      t.equal(journal.length, revs.length, 'one revision per node brought back');
      t.same(new Set(journal.map((e) => e.rev)), new Set(revs.map((r) => r.rev)), 'the same revisions');
      const seen = new Set([newP.id, p.parentId]);
      for (const e of journal) {
        t.ok(seen.has(e.parentId!), `${e.name} comes after its folder`);
        seen.add(e.id);
      }
      await t.rejects(store.restore(alice.actor, { ns: alice.ns, node: { id: q.id }, rev: q.rev }), {
        code: 'IS_DIR',
      });
      // Taken by another node meanwhile: EXISTS, nothing changes.
      const q2 = (await store.getNode(alice.ns, { path: '/p/q' }))!;
      await store.remove(alice.actor, {
        ns: alice.ns,
        node: { id: q.id },
        parentRev: q2.rev,
        recursive: true,
      });
      await store.mkdir(alice.actor, { ...base, path: '/p/q' });
      const before = await store.headSeq(alice.ns);
      await t.rejects(store.restore(alice.actor, { ns: alice.ns, node: { id: q.id }, rev: q.rev }), {
        code: 'EXISTS',
      });
      await t.rejects(
        store.restore(alice.actor, { ns: alice.ns, node: { id: q.id }, rev: q.rev, toPath: '/elsewhere' }),
        { code: 'BAD_REQUEST' },
      );
      t.equal(await store.headSeq(alice.ns), before, 'refused restores change nothing');
    });

    t.test('listDeleted: deleted nodes below a directory with their last paths', async (t) => {
      const a = await write(alice, '/d/a.txt', ['aaaa']);
      const b = await write(alice, '/d/sub/b.txt', ['bb']);
      await write(alice, '/d/keep.txt', ['k']);
      await write(alice, '/elsewhere.txt', ['e']);
      const e = await store.getNode(alice.ns, { path: '/elsewhere.txt' });
      await del(alice, e!.id);
      const [aGone] = await del(alice, a.id, NOW + 10);
      const sub = await store.getNode(alice.ns, { path: '/d/sub' });
      await del(alice, sub!.id, NOW + 20);
      const d = await store.getNode(alice.ns, { path: '/d' });
      const list = await store.listDeleted(alice.ns, d!.id, 100);
      t.equal(list.truncated, false);
      t.same(
        list.entries.map((x) => [x.path, x.kind, x.size, x.lastRev]),
        [
          ['/d/a.txt', 'file', 4, a.rev],
          ['/d/sub', 'dir', 0, sub!.rev],
          ['/d/sub/b.txt', 'file', 2, b.rev],
        ],
      );
      t.match(list.entries[0], { id: a.id, rev: aGone!.rev, deletedAt: NOW + 10, device: 'alice-laptop' });
      const all = await store.listDeleted(alice.ns, alice.rootId, 100);
      t.equal(all.entries.length, 4);
      const two = await store.listDeleted(alice.ns, alice.rootId, 2);
      t.equal(two.entries.length, 2);
      t.equal(two.truncated, true);
      await t.rejects(store.listDeleted(alice.ns, sub!.id, 10), { code: 'NOT_FOUND' });
      await t.rejects(store.listDeleted(alice.ns, b.id, 10), { code: 'NOT_FOUND' });
      const keep = await store.getNode(alice.ns, { path: '/d/keep.txt' });
      await t.rejects(store.listDeleted(alice.ns, keep!.id, 10), { code: 'NOT_DIR' });
      await t.rejects(store.listDeleted(bob.ns, d!.id, 10), { code: 'NOT_FOUND' });
    });

    t.test('retention: superseded revisions go after the window, the current one never', async (t) => {
      const DAY = 86_400_000;
      const v1 = await writeAt(alice, '/r.txt', ['v1'], null, NOW);
      const v2 = await writeAt(alice, '/r.txt', ['v2'], v1.rev, NOW + 1 * DAY);
      const v3 = await writeAt(alice, '/r.txt', ['v3'], v2.rev, NOW + 10 * DAY);
      const old = await writeAt(alice, '/old.txt', ['ancient'], null, NOW);
      const dir = await store.getNode(alice.ns, { path: '/' });
      // Cutoff between v2's and v3's times: v1 stopped being current at day 1 (purged), v2 at day 10 (kept).
      const purge = async (cutoff: number) => {
        let total = 0;
        let nodes = 0;
        for (let more = true; more;) {
          const b = await store.purgeHistory(cutoff, 2);
          total += b.revisions;
          nodes += b.nodes;
          more = b.more;
        }
        return { total, nodes };
      };
      t.same(await purge(NOW + 5 * DAY), { total: 1, nodes: 0 });
      t.same(
        (await store.listRevisions(alice.ns, v1.id)).map((r) => r.rev),
        [v2.rev, v3.rev],
      );
      await t.rejects(store.restore(alice.actor, { ns: alice.ns, node: { id: v1.id }, rev: v1.rev }), {
        code: 'NOT_FOUND',
      });
      // Far in the future: only current revisions remain, whatever their age.
      t.same(await purge(NOW + 1000 * DAY), { total: 1, nodes: 0 });
      t.same(
        (await store.listRevisions(alice.ns, v1.id)).map((r) => r.rev),
        [v3.rev],
      );
      t.same(
        (await store.listRevisions(alice.ns, old.id)).map((r) => r.rev),
        [old.rev],
        'old but current',
      );
      t.same((await store.getNode(alice.ns, { path: '/r.txt' }))!.blocks, [block('v3')]);
      t.same((await store.getNode(alice.ns, { path: '/old.txt' }))!.blocks, [block('ancient')]);
      t.equal(await store.canReadBlock(alice.userId, block('v3').hash), true);
      t.ok(dir);
      // The journal still replays to the current tree.
      const replay = (await store.readJournal(alice.ns, 0, 100)).entries;
      t.same(
        replay.map((r) => r.rev),
        [v3.rev, old.rev].sort((a, b) => a - b),
      );
    });

    t.test(
      'retention: a tombstone keeps its history for the window, then only the delete revision',
      async (t) => {
        const DAY = 86_400_000;
        const f1 = await writeAt(alice, '/t/f.txt', ['f1'], null, NOW);
        const f2 = await writeAt(alice, '/t/f.txt', ['f2'], f1.rev, NOW + DAY);
        const t0 = await store.getNode(alice.ns, { path: '/t' });
        const gone = await del(alice, t0!.id, NOW + 2 * DAY);
        // Within the window after the delete: f2 (current until the delete) stays restorable.
        await store.purgeHistory(NOW + 1.5 * DAY, 1000);
        t.same(
          (await store.listRevisions(alice.ns, f1.id)).map((r) => r.rev),
          [f2.rev, gone[0]!.rev],
        );
        t.equal((await store.listDeleted(alice.ns, alice.rootId, 10)).entries.length, 2);
        // After it: history gone, the delete revision kept (the journal still tells of it), not listed.
        const b = await store.purgeHistory(NOW + 3 * DAY, 1000);
        t.equal(b.nodes, 2, 'the file and its directory');
        t.same(
          (await store.listRevisions(alice.ns, f1.id)).map((r) => [r.rev, r.deleted, r.blocks]),
          [[gone[0]!.rev, true, undefined]],
        );
        t.same((await store.listDeleted(alice.ns, alice.rootId, 10)).entries, []);
        await t.rejects(store.restore(alice.actor, { ns: alice.ns, node: { id: f1.id }, rev: f2.rev }), {
          code: 'NOT_FOUND',
        });
        const journal = (await store.readJournal(alice.ns, 0, 100)).entries;
        t.same(
          journal.map((r) => [r.id, r.op]),
          [
            [f1.id, 'delete'],
            [t0!.id, 'delete'],
          ],
        );
        // Nothing references the blocks any more: they can be collected.
        const claimed = await store.claimGarbage(NOW + 10 * DAY, NOW + 10 * DAY, '', 100);
        t.same(claimed.claimed.map((c) => c.hash).sort(), [block('f1').hash, block('f2').hash].sort());
      },
    );

    t.test('collection: claims only unreferenced blocks untouched since the cutoff', async (t) => {
      const HOUR = 3_600_000;
      const used = await writeAt(alice, '/used.txt', ['used'], null, NOW);
      const replaced = block('replaced');
      await store.recordUpload(alice.userId, replaced.hash, replaced.size, 7, NOW);
      const late = block('late');
      await store.recordUpload(bob.userId, late.hash, late.size, late.size, NOW + 2 * HOUR);
      t.equal(await store.blockState(replaced.hash), 'live');
      t.equal(await store.blockState(block('never').hash), 'absent');
      // Scan in small batches; only `replaced` is unreferenced and untouched since NOW + 1h.
      const claimed: string[] = [];
      for (let after: string | null = ''; after !== null;) {
        const b = await store.claimGarbage(NOW + HOUR, NOW + 3 * HOUR, after, 1);
        claimed.push(...b.claimed.map((c) => c.hash));
        if (b.claimed.length) t.equal(b.claimed[0]!.storedSize, 7);
        after = b.next;
      }
      t.same(claimed, [replaced.hash]);
      t.equal(await store.blockState(replaced.hash), 'collecting');
      t.same(await store.missingBlocks(alice.userId, [replaced.hash, used.blocks![0]!.hash]), [
        replaced.hash,
      ]);
      t.equal(await store.canReadBlock(alice.userId, replaced.hash), false, 'possession went with it');
      // A commit racing the collection finds no record: BLOCK_UNUSABLE (the client sends it again).
      await t.rejects(
        store.commitFile(alice.actor, {
          ns: alice.ns,
          node: { path: '/late.txt' },
          parentRev: null,
          blocks: [replaced],
          size: replaced.size,
          mtime: NOW,
          mode: 0o644,
        }),
        { code: 'BLOCK_UNUSABLE', details: { missing: [replaced.hash] } },
      );
      // An upload of it waits until the bytes are gone.
      await t.rejects(store.recordUpload(alice.userId, replaced.hash, replaced.size, 1, NOW + 3 * HOUR), {
        code: 'UNAVAILABLE',
      });
      // A collector that died: its claim is taken over after the lease, not before.
      t.same(await store.takeStaleClaims(NOW + 3 * HOUR, NOW + 4 * HOUR, 10), []);
      t.same(await store.takeStaleClaims(NOW + 3 * HOUR + 1, NOW + 4 * HOUR, 10), [replaced.hash]);
      t.same(await store.takeStaleClaims(NOW + 3 * HOUR + 1, NOW + 4 * HOUR, 10), [], 'renewed');
      await store.finishClaims([replaced.hash]);
      t.equal(await store.blockState(replaced.hash), 'absent');
      t.equal(await store.recordUpload(alice.userId, replaced.hash, replaced.size, 1, NOW + 5 * HOUR), true);
      t.equal(await store.blockState(replaced.hash), 'live');
    });

    t.test('collection: an upload that saw the block live fails if it was claimed meanwhile', async (t) => {
      const b = block('raced');
      await store.recordUpload(alice.userId, b.hash, b.size, b.size, NOW);
      t.equal(await store.blockState(b.hash), 'live');
      // (bob's PUT reads "live" here, so its put of the bytes may be a no-op)
      const c = await store.claimGarbage(NOW + 1, NOW + 1, '', 100);
      t.same(
        c.claimed.map((x) => x.hash),
        [b.hash],
      );
      await store.finishClaims([b.hash]);
      await t.rejects(store.recordUpload(bob.userId, b.hash, b.size, 0, NOW + 2, 'live'), {
        code: 'UNAVAILABLE',
      });
      t.equal(await store.blockState(b.hash), 'absent', 'nothing recorded: the bytes may be gone');
      // Started over, it sees "absent", writes the bytes and records them.
      t.equal(await store.recordUpload(bob.userId, b.hash, b.size, b.size, NOW + 3, 'absent'), true);
      // Sending a block again refreshes its time: the grace counts from the last upload.
      await store.recordUpload(alice.userId, b.hash, b.size, b.size, NOW + 100);
      t.same((await store.claimGarbage(NOW + 50, NOW + 60, '', 100)).claimed, []);
    });

    t.test('collection: a block a restore copies back is referenced again', async (t) => {
      const r1 = await write(alice, '/x.txt', ['first']);
      await write(alice, '/x.txt', ['second'], r1.rev);
      await store.restore(alice.actor, { ns: alice.ns, node: { id: r1.id }, rev: r1.rev });
      await store.purgeHistory(NOW + 1e12, 1000);
      t.same((await store.getNode(alice.ns, { path: '/x.txt' }))!.blocks, [block('first')]);
      const c = await store.claimGarbage(NOW + 1e12, NOW + 1e12, '', 100);
      t.same(
        c.claimed.map((x) => x.hash),
        [block('second').hash],
      );
    });

    t.test('nodes of one namespace are invisible from another', async (t) => {
      const f = await write(alice, '/private', ['p']);
      t.equal(await store.getNode(bob.ns, { id: f.id }), null);
      await t.rejects(store.listRevisions(bob.ns, f.id), { code: 'NOT_FOUND' });
      await t.rejects(
        store.commitFile(bob.actor, {
          ns: bob.ns,
          node: { id: f.id },
          parentRev: f.rev,
          blocks: [],
          size: 0,
          mtime: NOW,
          mode: 0o644,
        }),
        { code: 'NOT_FOUND' },
      );
      await t.rejects(
        store.remove(bob.actor, { ns: bob.ns, node: { id: f.id }, parentRev: f.rev, recursive: false }),
        { code: 'NOT_FOUND' },
      );
      await t.rejects(
        store.move(bob.actor, {
          ns: bob.ns,
          node: { id: f.id },
          parentRev: f.rev,
          toPath: '/stolen',
          overwrite: false,
        }),
        { code: 'NOT_FOUND' },
      );
    });
  });
}
