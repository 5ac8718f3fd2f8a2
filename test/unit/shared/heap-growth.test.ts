import t from 'tap';
import { setHeapGrowth } from '../../../src/shared/heap-growth.js';

t.test('the growing factor is set unless node was given one', async (t) => {
  const set: string[] = [];
  const record = (f: string) => void set.push(f);
  t.equal(setHeapGrowth([], {}, record), '--heap-growing-percent=300');
  t.same(set, ['--heap-growing-percent=300']);
  set.length = 0;
  t.equal(setHeapGrowth(['--heap-growing-percent=50'], {}, record), null, 'on the command line');
  t.equal(setHeapGrowth(['--heap_growing_percent', '50'], {}, record), null, 'underscores, separate value');
  t.equal(
    setHeapGrowth([], { NODE_OPTIONS: '--trace-gc --heap-growing-percent=80' }, record),
    null,
    'NODE_OPTIONS',
  );
  t.same(set, [], 'none of those is overridden');
  t.equal(
    setHeapGrowth(['--max-old-space-size=100'], { NODE_OPTIONS: '' }, record),
    '--heap-growing-percent=300',
  );
});

t.test('setting it for real does not throw', async (t) => {
  t.doesNotThrow(() => setHeapGrowth([], {}));
});
