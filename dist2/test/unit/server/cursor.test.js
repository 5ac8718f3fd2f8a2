import t from 'tap';
import { decodeCursor, encodeCursor } from '../../../src/server/cursor.js';
t.test('round trip, absent cursor is the beginning', async (t) => {
    t.equal(decodeCursor(encodeCursor(3, 17), 3, 20), 17);
    t.equal(decodeCursor(encodeCursor(3, 20), 3, 20), 20);
    t.equal(decodeCursor(undefined, 3, 20), 0);
    t.equal(decodeCursor('', 3, 20), 0);
});
t.test('never-issued cursors are BAD_CURSOR', async (t) => {
    t.throws(() => decodeCursor(encodeCursor(4, 1), 3, 20), { code: 'BAD_CURSOR' }, 'other namespace');
    t.throws(() => decodeCursor(encodeCursor(3, 21), 3, 20), { code: 'BAD_CURSOR' }, 'ahead of head');
    for (const junk of [
        'x',
        'c',
        'c!!',
        '17',
        'c' + Buffer.from('v2:3:1').toString('base64url'),
        'c' + Buffer.from('v1:3:-1').toString('base64url'),
    ]) {
        t.throws(() => decodeCursor(junk, 3, 20), { code: 'BAD_CURSOR' }, junk);
    }
});
//# sourceMappingURL=cursor.test.js.map