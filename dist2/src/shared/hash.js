import { createHash } from 'node:crypto';
import { LoftError } from './errors.js';
/** Blocks are addressed by the lower-case hex SHA-256 of their bytes. */
export const HASH_RE = /^[0-9a-f]{64}$/;
export function sha256hex(data) {
    return createHash('sha256').update(data).digest('hex');
}
export function isHash(value) {
    return typeof value === 'string' && HASH_RE.test(value);
}
export function assertHash(value) {
    if (!HASH_RE.test(value))
        throw new LoftError('BAD_HASH', `not a lower-case hex SHA-256: ${JSON.stringify(value.slice(0, 80))}`);
}
/** Throws HASH_MISMATCH unless `data` hashes to `hash`. */
export function verifyBlock(hash, data) {
    const actual = sha256hex(data);
    if (actual !== hash) {
        throw new LoftError('HASH_MISMATCH', `block bytes hash to ${actual}, not ${hash}`);
    }
}
//# sourceMappingURL=hash.js.map