import t from 'tap';
import { InOrder } from '../../../../src/client/staging/in-order.js';

t.test(
  'writes in order move `appended` as each ends, in order even when they end out of order',
  async (t) => {
    const o = new InOrder();
    const told: (number | null)[] = [];
    o.onChange = (n) => void told.push(n);
    o.begin(0, 100)();
    t.equal(o.appended, 100);
    const a = o.begin(100, 50);
    const b = o.begin(150, 50); // the kernel sent two writes at once
    t.ok(o.writing);
    b();
    t.equal(o.appended, 100, 'the second ended first: nothing past the first is final yet');
    a();
    t.equal(o.appended, 200, 'both ended: final through the second');
    t.notOk(o.writing);
    o.truncated(200);
    t.equal(o.appended, 200, 'a truncate to the same size changes nothing');
    t.same(told, [100, 200]);
  },
);

t.test('anything else breaks the order for good', async (t) => {
  const cases: [string, (o: InOrder) => void][] = [
    ['a write before the end', (o) => o.begin(10, 5)()],
    ['a write past the end (a hole)', (o) => o.begin(101, 5)()],
    ['a truncate to a smaller size', (o) => o.truncated(50)],
    ['a truncate to a bigger size', (o) => o.truncated(150)],
    ['a truncate while a write is under way', (o) => (o.begin(100, 10), o.truncated(110))],
    ['a break (a failed write, a removal)', (o) => o.break()],
  ];
  for (const [name, act] of cases) {
    const o = new InOrder();
    const told: (number | null)[] = [];
    o.begin(0, 100)();
    o.onChange = (n) => void told.push(n);
    act(o);
    t.equal(o.appended, null, `${name}: broken`);
    t.same(told, [null], `${name}: told once`);
    o.begin(100, 10)();
    t.equal(o.appended, null, `${name}: a later append does not mend it`);
  }
});
