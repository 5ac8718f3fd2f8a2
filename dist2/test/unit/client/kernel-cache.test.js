/** KernelCache: which kernel entries a set of changed paths drops, batching, bounds, close. */
import t from 'tap';
import { KernelCache } from '../../../src/client/fuse/kernel-cache.js';
function fake(inos = {}) {
    const sent = [];
    const looked = [];
    const errors = [];
    const kc = new KernelCache({
        notifyEntry: async (ino, name) => {
            sent.push(`${ino}:${name}`);
            return name === 'uncached' ? -2 : 0;
        },
        nodeId: async (p) => {
            looked.push(p);
            return inos[p] ?? null;
        },
        onError: (p) => errors.push(p),
    });
    return { kc, sent, looked, errors };
}
t.test('drops the entry of each path in its directory; one lookup per directory', async (t) => {
    const { kc, sent, looked, errors } = fake({ '/a': 5, '/a/b': 9 });
    kc.invalidate('/top.txt');
    kc.invalidate('/a/x');
    kc.invalidate('/a/y');
    kc.invalidate('/a/x'); // twice in one batch: once
    kc.invalidate('/a/b/z');
    kc.invalidate('/gone/w'); // its directory is not in the kernel: nothing to drop
    kc.invalidate('/'); // the root has no entry
    await kc.settled();
    t.same(sent.sort(), ['1:top.txt', '5:x', '5:y', '9:z']);
    t.same(looked.sort(), ['/a', '/a/b', '/gone']);
    t.equal(kc.invalidated, 4);
    t.same(errors, []);
});
t.test('an entry the kernel does not hold is not an error; other failures are reported', async (t) => {
    const { kc, errors } = fake();
    kc.invalidate('/uncached');
    await kc.settled();
    t.equal(kc.invalidated, 0);
    t.same(errors, []);
    const failing = new KernelCache({
        notifyEntry: async () => -5,
        nodeId: async () => 1,
        onError: (p) => errors.push(p),
    });
    failing.invalidate('/x');
    await failing.settled();
    t.same(errors, ['/x']);
});
t.test('paths recorded during a flush are sent by the next one', async (t) => {
    const { kc, sent } = fake();
    kc.invalidate('/one');
    const first = kc.settled();
    kc.invalidate('/two');
    await first;
    await kc.settled();
    t.same(sent.sort(), ['1:one', '1:two']);
});
t.test('after close nothing is recorded or sent', async (t) => {
    const { kc, sent } = fake();
    kc.invalidate('/before');
    await kc.close();
    kc.invalidate('/after');
    await kc.settled();
    t.ok(!sent.includes('1:after'));
});
//# sourceMappingURL=kernel-cache.test.js.map