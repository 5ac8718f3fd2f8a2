import { LoftError } from './errors.js';
const UNITS = {
    '': 1,
    B: 1,
    K: 2 ** 10,
    M: 2 ** 20,
    G: 2 ** 30,
    T: 2 ** 40,
    P: 2 ** 50,
};
/**
 * Parses a size the way rclone does: plain bytes or a binary suffix ("16M" = 16 MiB, "1.5G", "10GiB").
 */
export function parseSize(text) {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtpb]?)(?:i?b)?\s*$/i.exec(text);
    if (!m)
        throw new LoftError('BAD_REQUEST', `not a size: ${JSON.stringify(text)} (use bytes or a suffix: 512K, 16M, 10G)`);
    const unit = UNITS[(m[2] ?? '').toUpperCase()] ?? 1;
    const value = Math.floor(Number(m[1]) * unit);
    if (!Number.isSafeInteger(value))
        throw new LoftError('BAD_REQUEST', `size too large: ${text}`);
    return value;
}
/** Parses a duration: plain seconds or with a suffix (500ms, 30s, 5m, 2h, 7d). Returns milliseconds. */
export function parseDuration(text) {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
    if (!m)
        throw new LoftError('BAD_REQUEST', `not a duration: ${JSON.stringify(text)} (use 30s, 5m, 2h, 7d)`);
    const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 's')];
    return Math.round(Number(m[1]) * mult);
}
export function formatBytes(n) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    let v = n;
    while (v >= 1024 && i < units.length - 1) {
        v /= 1024;
        i++;
    }
    return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}
//# sourceMappingURL=size.js.map