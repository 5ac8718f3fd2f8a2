import t from 'tap';
import { ByteRanges } from '../../../src/shared/byte-ranges.js';
import { prng } from '../../helpers/prng.js';
t.test('add merges overlapping and adjacent ranges', async (t) => {
    const r = new ByteRanges();
    r.add(10, 20);
    r.add(30, 40);
    t.same(r.toJSON(), [
        [10, 20],
        [30, 40],
    ]);
    r.add(20, 30);
    t.same(r.toJSON(), [[10, 40]], 'adjacent ranges merge');
    r.add(0, 5);
    r.add(50, 60);
    r.add(3, 55);
    t.same(r.toJSON(), [[0, 60]]);
    r.add(70, 70);
    t.same(r.toJSON(), [[0, 60]], 'empty ranges are ignored');
    t.equal(r.bytes, 60);
});
t.test('missing and covers', async (t) => {
    const r = new ByteRanges([
        [10, 20],
        [30, 40],
    ]);
    t.same(r.missing(0, 50), [
        [0, 10],
        [20, 30],
        [40, 50],
    ]);
    t.same(r.missing(12, 18), []);
    t.same(r.missing(15, 35), [[20, 30]]);
    t.ok(r.covers(10, 20));
    t.notOk(r.covers(10, 21));
    t.ok(r.covers(5, 5));
});
t.test('truncate drops what lies beyond', async (t) => {
    const r = new ByteRanges([
        [0, 10],
        [20, 30],
    ]);
    r.truncate(25);
    t.same(r.toJSON(), [
        [0, 10],
        [20, 25],
    ]);
    r.truncate(5);
    t.same(r.toJSON(), [[0, 5]]);
});
t.test('matches a byte-array model under random operations', async (t) => {
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
        const rnd = prng(seed);
        const N = 200;
        const model = new Array(N).fill(false);
        const r = new ByteRanges();
        for (let op = 0; op < 300; op++) {
            const a = Math.floor(rnd() * N);
            const b = Math.min(N, a + Math.floor(rnd() * 40));
            if (rnd() < 0.9) {
                r.add(a, b);
                for (let i = a; i < b; i++)
                    model[i] = true;
            }
            else {
                r.truncate(a);
                for (let i = a; i < N; i++)
                    model[i] = false;
            }
            // Invariants: sorted, disjoint, non-adjacent, equal to the model.
            const list = r.ranges;
            for (let i = 1; i < list.length; i++)
                if (list[i][0] <= list[i - 1][1])
                    t.fail(`seed ${seed}: not merged`);
            const present = new Array(N).fill(false);
            for (const [s, e] of list)
                for (let i = s; i < e; i++)
                    present[i] = true;
            if (present.join() !== model.join())
                t.fail(`seed ${seed}: differs from the model at op ${op}`);
            const q0 = Math.floor(rnd() * N);
            const q1 = Math.min(N, q0 + Math.floor(rnd() * 50));
            const holes = r.missing(q0, q1).flatMap(([s, e]) => Array.from({ length: e - s }, (_, k) => s + k));
            const want = Array.from({ length: q1 - q0 }, (_, k) => q0 + k).filter((i) => !model[i]);
            if (holes.join() !== want.join())
                t.fail(`seed ${seed}: missing() wrong at op ${op}`);
        }
        t.pass(`seed ${seed}: 300 operations agree with the model`);
    }
});
//# sourceMappingURL=byte-ranges.test.js.map