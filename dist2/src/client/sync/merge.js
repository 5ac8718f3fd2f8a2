/**
 * Automatic three-way merge of text files (edit vs edit on two devices).
 *
 * When this device's commit meets a newer revision from elsewhere, the common base is the revision
 * this device's edit started from (the node's revision in the mirror). If base, ours and theirs are
 * all small UTF-8 text, they are merged line by line with diff3 (node-diff3): changes separated by
 * at least one unchanged line merge; changes to the same or adjacent lines are a conflict (as in
 * `git merge`), and so are binary or large files — those keep the conflicted-copy rule.
 */
import { diff3Merge } from 'node-diff3';
import { sha256hex } from '../../shared/hash.js';
import { chunkStarts, DEFAULT_CHUNK_PARAMS } from '../chunk/streaming-chunker.js';
/** Largest file (each of base, ours, theirs) that is merged; larger ones make a conflicted copy. */
export const MERGE_MAX_BYTES = 4 * 1024 * 1024;
const utf8 = new TextDecoder('utf-8', { fatal: true });
/** Text: no NUL byte and valid UTF-8 (what editors and `file` treat as text). */
export function isText(buf) {
    if (buf.includes(0))
        return false;
    try {
        utf8.decode(buf);
        return true;
    }
    catch {
        return false;
    }
}
/** Lines with their terminators, so that joining them gives the text back byte for byte. */
function lines(text) {
    return text.length ? text.split(/(?<=\n)/) : [];
}
/**
 * Merges `ours` and `theirs`, both edited from `base`. Null when they are not all text within
 * MERGE_MAX_BYTES, or when the edits overlap.
 */
export function mergeText(base, ours, theirs) {
    if (base.length > MERGE_MAX_BYTES || ours.length > MERGE_MAX_BYTES || theirs.length > MERGE_MAX_BYTES)
        return null;
    if (!isText(base) || !isText(ours) || !isText(theirs))
        return null;
    const regions = diff3Merge(lines(ours.toString('utf8')), lines(base.toString('utf8')), lines(theirs.toString('utf8')), { excludeFalseConflicts: true });
    const out = [];
    for (const r of regions) {
        if (r.conflict)
            return null;
        if (r.ok)
            out.push(...r.ok);
    }
    return Buffer.from(out.join(''), 'utf8');
}
/** Upload content of a buffer in memory: chunked and hashed as files are. */
export function bufferContent(buf) {
    const starts = chunkStarts(buf, DEFAULT_CHUNK_PARAMS);
    const blocks = starts.map((offset, i) => {
        const end = starts[i + 1] ?? buf.length;
        return { hash: sha256hex(buf.subarray(offset, end)), size: end - offset, offset };
    });
    return {
        blocks,
        size: buf.length,
        read: (offset, n) => Promise.resolve(buf.subarray(offset, offset + n)),
    };
}
//# sourceMappingURL=merge.js.map