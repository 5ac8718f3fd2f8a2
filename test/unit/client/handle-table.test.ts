/**
 * HandleTable: a handle's first read takes the blocks of its range from the mirror once, however
 * many parts of the drive look at that range (the hydration firewall, then the read).
 */
import t from 'tap';
import { HandleTable, type BlockLists } from '../../../src/client/vfs/handle-table.js';
import type { BlockExtent, MirrorNode } from '../../../src/client/mirror/mirror.js';

const MiB = 1024 * 1024;

/** A mirror holding one file of `n` 1 MiB blocks, counting its queries. */
function mirror(n: number): BlockLists & { calls: string[] } {
  const all: BlockExtent[] = Array.from({ length: n }, (_, i) => ({
    hash: `h${i}`,
    offset: i * MiB,
    size: MiB,
  }));
  const calls: string[] = [];
  return {
    calls,
    blocks: () => (calls.push('all'), all),
    blocksIn: (_id, from, to) => {
      calls.push(`${from}-${to}`);
      return all.filter((e) => e.offset < to && e.offset + e.size > from);
    },
  };
}

const node = (size: number) => ({ id: 7, size, rev: 3 }) as MirrorNode;

t.test('the range asked twice is one query; another range or the whole list ask again', async (t) => {
  const m = mirror(1024);
  const table = new HandleTable(m);
  const h = table.get(table.add(node(1024 * MiB), false, null));
  const at = 900 * MiB;
  const first = table.extentsIn(h, at, at + 4096); // the firewall's look
  const again = table.extentsIn(h, at, at + 4096); // the read
  t.same(first, [{ hash: 'h900', offset: at, size: MiB }]);
  t.equal(again, first, 'the same list, not a new query');
  t.same(m.calls, [`${at}-${at + 4096}`]);
  t.same(table.extentsIn(h, at + 100, at + 200), first, 'inside the range asked: no query');
  t.equal(m.calls.length, 1);
  table.extentsIn(h, at + MiB, at + MiB + 4096);
  t.equal(m.calls.length, 2, 'another range: a query');
  // The mirror hands the whole list over before it changes the file: from then on it is used.
  table.blocksChanging(7);
  t.equal(table.extentsIn(h, 0, 10).length, 1024);
  t.same(m.calls.slice(2), ['all']);
  t.equal(h.probe, null, 'the remembered range goes with it');
});

t.test('a range past the end of the file is cut at its size', async (t) => {
  const m = mirror(2);
  const table = new HandleTable(m);
  const h = table.get(table.add(node(2 * MiB - 100), false, null));
  table.extentsIn(h, MiB, 2 * MiB - 100); // what the firewall asks: the bytes a read would get
  table.extentsIn(h, MiB, MiB + MiB); // the kernel's request, past the end
  t.same(m.calls, [`${MiB}-${2 * MiB - 100}`]);
});
