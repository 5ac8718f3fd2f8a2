import t from 'tap';
import { formatBytes, parseDuration, parseSize } from '../../../src/shared/size.js';
t.test('sizes as rclone reads them', async (t) => {
    t.equal(parseSize('123'), 123);
    t.equal(parseSize('16M'), 16 * 2 ** 20);
    t.equal(parseSize('10G'), 10 * 2 ** 30);
    t.equal(parseSize('1.5k'), 1536);
    t.equal(parseSize('2GiB'), 2 * 2 ** 30);
    for (const bad of ['', 'M', '-1', '1X', '1 2'])
        t.throws(() => parseSize(bad), { code: 'BAD_REQUEST' }, bad);
});
t.test('durations', async (t) => {
    t.equal(parseDuration('30'), 30_000);
    t.equal(parseDuration('500ms'), 500);
    t.equal(parseDuration('2h'), 7_200_000);
    t.throws(() => parseDuration('soon'), { code: 'BAD_REQUEST' });
    t.equal(formatBytes(512), '512 B');
    t.equal(formatBytes(16 * 2 ** 20), '16.0 MiB');
});
//# sourceMappingURL=size.test.js.map