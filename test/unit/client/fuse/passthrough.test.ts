/**
 * Passthrough (src/client/fuse/passthrough.ts): which creates pass through, the kernel's rule that
 * every open of a passed-through node names the same backing file, and when a backing id goes back.
 * The binding and the Vfs are stand-ins that record what they were asked; the clock is injected.
 */
import t from 'tap';
import {
  BURST_FILE_MAX,
  BURST_MS,
  Passthrough,
  passthroughPolicy,
} from '../../../../src/client/fuse/passthrough.js';
import type { Session } from '../../../../src/client/fuse/lowlevel-binding.js';

const session = {} as Session;

function setup(policy: 'off' | 'burst' | 'always', backingOpen: (fd: number) => number = () => 0) {
  let clock = 1_000_000;
  let next = 1;
  const calls = { opened: [] as number[], closed: [] as number[], passed: [] as number[] };
  const fds = new Map<number, number | null>();
  const sizes = new Map<number, number>(); // node → size (0 unless set)
  const room = { ok: true };
  const stagings = new Map<number, string | null>(); // fh → staging path ('the-staging' unless set)
  const pt = new Passthrough({
    policy,
    now: () => clock,
    binding: {
      backingOpen: (_s, fd) => {
        calls.opened.push(fd);
        const r = backingOpen(fd);
        return r === 0 ? next++ : r;
      },
      backingClose: (_s, id) => {
        calls.closed.push(id);
        return 0;
      },
    },
    vfs: {
      fd: (fh) => (fds.has(fh) ? fds.get(fh)! : 100 + fh),
      passed: (fh) => calls.passed.push(fh),
      node: (fh) => 1000 + fh,
      size: (node) => sizes.get(node) ?? 0,
      roomy: () => room.ok,
      staging: (fh) => (stagings.has(fh) ? stagings.get(fh)! : 'the-staging'),
    },
  });
  pt.negotiated(true);
  return { pt, calls, fds, sizes, room, stagings, tick: (ms: number) => (clock += ms) };
}

t.test('burst: a lone create goes through the drive; one soon after another passes through', async (t) => {
  const { pt, calls, tick } = setup('burst');
  t.equal(pt.create(session, 1, 11), 0, 'the first create of the mount is alone');
  tick(BURST_MS - 1);
  const id = pt.create(session, 2, 12);
  t.ok(id > 0, 'a create within BURST_MS of the previous one passes through');
  t.same(calls.opened, [102], "its staging file's descriptor is the backing file");
  t.same(calls.passed, [2], 'the Vfs is told the kernel writes that handle');
  tick(BURST_MS);
  t.equal(pt.create(session, 3, 13), 0, 'a create after a pause is alone again');
  t.same(pt.info(), { passthrough: true, passthroughFiles: 1 });
});

t.test(
  'burst: a create right after a big file goes through the drive (it chunks big files as written)',
  async (t) => {
    const { pt, sizes, tick } = setup('burst');
    pt.create(session, 1, 11);
    sizes.set(1001, BURST_FILE_MAX); // the file handle 1 made has grown this big by the next create
    tick(10);
    t.equal(pt.create(session, 2, 12), 0, 'after a big file: alone');
    tick(10);
    t.ok(pt.create(session, 3, 13) > 0, 'after a small one (handle 2 wrote nothing): a burst');
  },
);

t.test('always and off', async (t) => {
  const on = setup('always');
  t.ok(on.pt.create(session, 1, 11) > 0, 'always: even a lone create');
  const off = setup('off');
  off.tick(1);
  t.equal(off.pt.create(session, 1, 11), 0);
  off.tick(1);
  t.equal(off.pt.create(session, 2, 12), 0, 'off: never');
  t.same(off.calls.opened, [], 'and the binding is never asked');
  t.equal(off.pt.unavailable, 'off (LOFT_PASSTHROUGH)');
  t.equal(passthroughPolicy(undefined), 'burst', 'the default');
  t.equal(passthroughPolicy('0'), 'off');
  t.equal(passthroughPolicy('always'), 'always');
});

t.test(
  'every open of a passed-through node names its backing id, which goes with the last release',
  async (t) => {
    const { pt, calls } = setup('always');
    const id = pt.create(session, 1, 11);
    t.equal(pt.open(2, 11), id, 'a second open of the node while the first is open: the same backing');
    t.equal(pt.open(3, 99), 0, 'another node: none');
    t.same(calls.passed, [1, 2]);
    pt.released(session, 1);
    t.same(calls.closed, [], 'still open through handle 2');
    t.equal(pt.open(4, 11), id, 'so an open now still names it');
    pt.released(session, 2);
    pt.released(session, 3); // never passed through: nothing to do
    t.same(calls.closed, [], 'handle 4 still holds it');
    pt.released(session, 4);
    t.same(calls.closed, [id], 'given back once no file uses it');
    t.equal(pt.open(5, 11), 0, 'an open after that goes through the drive (the kernel is in cached mode)');
    pt.released(session, 4);
    t.same(calls.closed, [id], 'a second release of a handle changes nothing');
  },
);

t.test(
  'an open whose staging is not the backing file is not passed through (the kernel refuses it)',
  async (t) => {
    const { pt, stagings } = setup('always');
    const id = pt.create(session, 1, 11);
    stagings.set(2, null);
    t.equal(pt.open(2, 11), id, 'a reader of the committed revision (no staging): the same backing');
    stagings.set(3, 'another-staging');
    t.equal(pt.open(3, 11), 0, 'a handle on another staging: never the backing of the first');
  },
);

t.test(
  'a refused backing file turns passthrough off for the mount; a staging without a descriptor is skipped',
  async (t) => {
    const eperm = setup('always', () => -1);
    t.equal(eperm.pt.create(session, 1, 11), 0, 'EPERM (not CAP_SYS_ADMIN): through the drive');
    t.equal(eperm.pt.create(session, 2, 12), 0);
    t.same(eperm.calls.opened, [101], 'asked once, not for every file');
    t.same(eperm.calls.passed, []);
    t.equal(eperm.pt.info().passthrough, false);
    t.equal(eperm.pt.unavailable, 'backing file refused (errno 1)');

    const noFd = setup('always');
    noFd.fds.set(1, null);
    t.equal(noFd.pt.create(session, 1, 11), 0, 'no descriptor (a staging over a base): through the drive');
    t.same(noFd.calls.opened, []);
    t.ok(noFd.pt.create(session, 2, 12) > 0, 'and the next file may still pass through');

    const full = setup('always');
    full.room.ok = false;
    t.equal(
      full.pt.create(session, 1, 11),
      0,
      'a disk short of room: through the drive (its cache yields space)',
    );
    t.same(full.calls.opened, []);
    full.room.ok = true;
    t.ok(full.pt.create(session, 2, 12) > 0, 'room again: through the kernel');

    const notOffered = setup('always');
    notOffered.pt.negotiated(false);
    t.equal(notOffered.pt.create(session, 1, 11), 0, 'a kernel without passthrough: through the drive');
    t.same(notOffered.calls.opened, []);
    t.equal(notOffered.pt.create(null, 2, 12), 0);
  },
);
