/** HydrationFirewall: names of the caller and its ancestors from a /proc the test writes. */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { HydrationFirewall, parseBudgets } from '../../../src/client/fuse/hydration-firewall.js';
import { tmpDirs } from './fake-block-source.js';

const tmp = tmpDirs(t, 'loft-fw-');

/** A fake /proc with the given processes: pid → [comm, ppid]. */
function proc(procs: Record<number, [string, number]>): string {
  const dir = tmp();
  for (const [pid, [comm, ppid]] of Object.entries(procs)) {
    mkdirSync(path.join(dir, pid));
    writeFileSync(path.join(dir, pid, 'stat'), `${pid} (${comm}) S ${ppid} ${pid} ${pid} 0 -1 4194560\n`);
  }
  return dir;
}

t.test('a blocked name, itself or an ancestor, is refused; others are not', async (t) => {
  const dir = proc({
    10: ['nautilus', 1],
    11: ['bwrap', 10],
    12: ['gdk-pixbuf-thum', 11], // the kernel's 15 bytes of gdk-pixbuf-thumbnailer
    20: ['bash', 1],
    21: ['cat', 20],
    30: ['tracker-extract', 1],
    31: ['a (b) c', 30], // comm with spaces and parentheses
  });
  let now = 0;
  const fw = new HydrationFirewall({ proc: dir, now: () => now });
  t.notOk(fw.open, 'the default list is on');
  t.notOk(fw.allow(12, 4096, '/a.jpg'), 'a thumbnailer (name cut at 15 bytes)');
  t.ok(fw.allow(21, 4096, '/a.jpg'), 'cat under bash');
  t.notOk(fw.allow(31, 100, '/b.pdf'), 'a child of an indexer');
  t.ok(fw.allow(12, 0, '/a.jpg'), 'a read that downloads nothing is never refused');
  t.ok(fw.allow(999, 10, '/x'), 'a process already gone');
  const s = fw.status();
  t.same(
    s.refusals.map((r) => [r.name, r.count, r.bytes, r.pid, r.path]),
    [
      ['gdk-pixbuf-thumbnailer', 1, 4096, 12, '/a.jpg'],
      ['tracker-extract', 1, 100, 31, '/b.pdf'],
    ],
  );
  now = 10_000;
  t.ok(new HydrationFirewall({ proc: dir, noDownloadFor: [] }).open, 'an empty list: open');
});

t.test('budgets: bytes allowed in all, then refused', async (t) => {
  const dir = proc({ 40: ['rsync', 1] });
  const fw = new HydrationFirewall({
    proc: dir,
    noDownloadFor: [],
    budgets: parseBudgets(['rsync=10'], Number),
  });
  t.ok(fw.allow(40, 6, '/a'));
  t.notOk(fw.allow(40, 6, '/b'), 'past the budget');
  t.ok(fw.allow(40, 4, '/c'), 'what is left');
  t.same(fw.status().budgets, [{ name: 'rsync', bytes: 10, used: 10 }]);
  t.throws(() => parseBudgets(['nosize'], Number), /NAME=SIZE/);
});

t.test('prime: the names are looked up when the file is opened, not at its first read', async (t) => {
  const dir = proc({ 50: ['bwrap', 1], 51: ['tumblerd', 50], 60: ['bash', 1], 61: ['cat', 60] });
  const fw = new HydrationFirewall({ proc: dir, now: () => 0 });
  fw.prime(51);
  fw.primeSoon(61);
  await new Promise((r) => setImmediate(r));
  // /proc no longer tells anything: the answers below come from what prime read.
  rmSync(dir, { recursive: true, force: true });
  t.ok(
    fw.refuses(
      51,
      () => 4096,
      () => '/a.jpg',
    ),
    'the thumbnailer primed at open is refused',
  );
  t.notOk(
    fw.refuses(
      61,
      () => 4096,
      () => '/a.txt',
    ),
    'cat, primed after the open answer, is not',
  );
  t.same(
    fw.status().refusals.map((r) => [r.name, r.pid]),
    [['tumblerd', 51]],
  );
  const open = new HydrationFirewall({ proc: dir, noDownloadFor: [] });
  open.prime(51);
  let asked = false;
  t.notOk(
    open.refuses(
      51,
      () => ((asked = true), 1),
      () => '/x',
    ),
    'no rules: nothing refused',
  );
  t.notOk(asked, 'and what the read would download is not even computed');
});

t.test(
  'another thread of a process seen already costs one /proc read: its ancestors are known',
  async (t) => {
    // FUSE names the calling thread: node opens in one thread of its pool and reads in another.
    const dir = proc({ 90: ['tumblerd', 1], 91: ['node', 90], 92: ['node', 90] });
    const fw = new HydrationFirewall({ proc: dir, now: () => 0 });
    fw.prime(91); // at the open
    rmSync(path.join(dir, '90'), { recursive: true });
    t.ok(
      fw.refuses(
        92,
        () => 4096,
        () => '/a.jpg',
      ),
      'the read from thread 92: its parent was read at the open',
    );
  },
);
