/**
 * Journal cursors: opaque to clients ("c" + base64url of "v1:<ns>:<seq>"), checked on the way in.
 * A cursor is valid for one namespace and only up to that namespace's head: anything else was never
 * issued by this server and is rejected with BAD_CURSOR rather than silently restarting the client.
 */
import { LoftError } from '../shared/errors.js';
export function encodeCursor(ns, seq) {
    return 'c' + Buffer.from(`v1:${ns}:${seq}`).toString('base64url');
}
/** The sequence number inside `cursor`; an absent cursor means "from the beginning". */
export function decodeCursor(cursor, ns, head) {
    if (cursor === undefined || cursor === '')
        return 0;
    const m = /^c([A-Za-z0-9_-]{1,64})$/.exec(cursor);
    const parts = m
        ? /^v1:(\d{1,15}):(\d{1,15})$/.exec(Buffer.from(m[1], 'base64url').toString('latin1'))
        : null;
    if (!parts)
        throw new LoftError('BAD_CURSOR', 'malformed cursor');
    const cns = Number(parts[1]);
    const seq = Number(parts[2]);
    if (cns !== ns)
        throw new LoftError('BAD_CURSOR', 'cursor belongs to another namespace');
    if (seq > head)
        throw new LoftError('BAD_CURSOR', 'cursor is ahead of the journal (never issued by this server)');
    return seq;
}
//# sourceMappingURL=cursor.js.map