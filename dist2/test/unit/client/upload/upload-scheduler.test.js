import t from 'tap';
import { UploadScheduler } from '../../../../src/client/upload/upload-scheduler.js';
const MiB = 1024 * 1024;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
t.test('--bwlimit paces uploads to the cap', async (t) => {
    const s = new UploadScheduler({ bwlimit: 20 * MiB });
    const start = Date.now();
    await Promise.all(Array.from({ length: 8 }, () => s.run(MiB, async () => { })));
    const ms = Date.now() - start;
    // 8 MiB at 20 MiB/s: the last one may start at 7/20 s = 350 ms.
    t.ok(ms >= 330, `8 MiB at 20 MiB/s took ${ms} ms (≥ 330)`);
    t.ok(ms < 1500, `and not much more (${ms} ms)`);
});
t.test('without a cap, uploads are not delayed', async (t) => {
    const s = new UploadScheduler();
    const start = Date.now();
    await Promise.all(Array.from({ length: 8 }, () => s.run(MiB, async () => { })));
    t.ok(Date.now() - start < 200);
});
t.test('concurrency grows while a link with room delivers more', async (t) => {
    const s = new UploadScheduler();
    t.equal(s.concurrency, 2);
    // Each upload takes 20 ms regardless of how many run: throughput scales with concurrency.
    await Promise.all(Array.from({ length: 120 }, () => s.run(MiB, () => sleep(20))));
    t.ok(s.concurrency > 4, `grew to ${s.concurrency}`);
});
t.test('concurrency backs off when latency climbs with it', async (t) => {
    const s = new UploadScheduler();
    let active = 0;
    // A saturated link: latency proportional to the number in flight, throughput flat.
    const upload = async () => {
        active++;
        await sleep(10 * active * active);
        active--;
    };
    await Promise.all(Array.from({ length: 80 }, () => s.run(MiB, upload)));
    t.ok(s.concurrency <= 3, `stayed low: ${s.concurrency}`);
});
t.test('errors halve the concurrency and are passed on', async (t) => {
    const s = new UploadScheduler();
    await Promise.all(Array.from({ length: 60 }, () => s.run(MiB, () => sleep(15))));
    const before = s.concurrency;
    const fails = Array.from({ length: 6 }, () => s.run(MiB, async () => {
        await sleep(5);
        throw new Error('boom');
    }));
    for (const f of fails)
        await t.rejects(f, /boom/);
    t.ok(s.concurrency <= Math.max(1, Math.floor(before / 2)) + 1, `${before} → ${s.concurrency}`);
});
t.test('uploads wait for interactive reads (bounded)', async (t) => {
    let reading = true;
    const s = new UploadScheduler({ readsActive: () => reading });
    setTimeout(() => (reading = false), 150);
    const start = Date.now();
    await s.run(MiB, async () => { });
    const waited = Date.now() - start;
    t.ok(waited >= 140 && waited < 900, `waited ${waited} ms for the read`);
    reading = true;
    const start2 = Date.now();
    await s.run(MiB, async () => { });
    t.ok(Date.now() - start2 < 1500, 'never starves: goes ahead after the yield limit');
});
t.test('higher priority runs first', async (t) => {
    const s = new UploadScheduler();
    const order = [];
    const block = () => sleep(30);
    const jobs = [s.run(1, block), s.run(1, block)]; // occupy both slots
    jobs.push(s.run(1, async () => void order.push('bulk'), 0));
    jobs.push(s.run(1, async () => void order.push('small'), 1));
    await Promise.all(jobs);
    t.same(order, ['small', 'bulk']);
});
//# sourceMappingURL=upload-scheduler.test.js.map