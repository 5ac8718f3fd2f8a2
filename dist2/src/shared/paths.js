import { LoftError } from './errors.js';
/** Linux NAME_MAX: longest path component, in bytes of UTF-8. */
export const MAX_NAME_BYTES = 255;
/** Linux PATH_MAX: longest path, in bytes of UTF-8. */
export const MAX_PATH_BYTES = 4096;
/** Throws BAD_PATH unless `name` is a usable single path component. */
export function validateName(name) {
    if (name.length === 0)
        throw new LoftError('BAD_PATH', 'empty path component');
    if (name === '.' || name === '..')
        throw new LoftError('BAD_PATH', `path component ${JSON.stringify(name)} is not allowed`);
    if (name.includes('/'))
        throw new LoftError('BAD_PATH', 'path component contains "/"');
    if (name.includes('\0'))
        throw new LoftError('BAD_PATH', 'path component contains NUL');
    if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) {
        throw new LoftError('BAD_PATH', `path component longer than ${MAX_NAME_BYTES} bytes`);
    }
    // Lone surrogates cannot be stored as UTF-8 and would come back changed.
    if (!name.isWellFormed())
        throw new LoftError('BAD_PATH', 'path component is not valid Unicode');
}
/**
 * Splits an absolute path ("/a/b") into validated components. "/" is the root (no components).
 * No normalisation: "//", "/./", "/../" and a trailing "/" are rejected rather than guessed at.
 */
export function splitPath(path) {
    if (typeof path !== 'string' || !path.startsWith('/'))
        throw new LoftError('BAD_PATH', 'path must start with "/"');
    if (Buffer.byteLength(path, 'utf8') > MAX_PATH_BYTES) {
        throw new LoftError('BAD_PATH', `path longer than ${MAX_PATH_BYTES} bytes`);
    }
    if (path === '/')
        return [];
    const parts = path.slice(1).split('/');
    for (const part of parts)
        validateName(part);
    return parts;
}
export function joinPath(parts) {
    return '/' + parts.join('/');
}
//# sourceMappingURL=paths.js.map