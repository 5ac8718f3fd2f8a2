import { LoftError } from '../shared/errors.js';
/** Prints one line for a failed command and returns the exit code (1 for user errors, 2 for bugs). */
export function reportError(err) {
    if (err instanceof LoftError) {
        process.stderr.write(`loft: ${err.message}\n`);
        return 1;
    }
    const e = err;
    if (e && typeof e.code === 'string' && typeof e.message === 'string') {
        // System errors (EACCES, EADDRINUSE, ENOSPC…) are the user's environment, not a bug.
        process.stderr.write(`loft: ${e.message.split('\n')[0]}\n`);
        return 1;
    }
    process.stderr.write(`loft: unexpected error: ${(e?.stack ?? String(err)).split('\n')[0]}\n`);
    return 2;
}
//# sourceMappingURL=errors.js.map