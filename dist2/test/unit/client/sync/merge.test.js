/** Three-way merge of text files: what merges, what stays a conflict, and upload content of a buffer. */
import t from 'tap';
import { sha256hex } from '../../../../src/shared/hash.js';
import { bufferContent, isText, MERGE_MAX_BYTES, mergeText } from '../../../../src/client/sync/merge.js';
const B = (s) => Buffer.from(s, 'utf8');
const merge = (o, a, b) => mergeText(B(o), B(a), B(b))?.toString('utf8') ?? null;
const base = 'one\ntwo\nthree\nfour\nfive\nsix\n';
t.test('edits of different lines merge, in both orders, to the same text', async (t) => {
    const a = 'ONE\ntwo\nthree\nfour\nfive\nsix\n';
    const b = 'one\ntwo\nthree\nfour\nfive\nSIX\n';
    t.equal(merge(base, a, b), 'ONE\ntwo\nthree\nfour\nfive\nSIX\n');
    t.equal(merge(base, b, a), 'ONE\ntwo\nthree\nfour\nfive\nSIX\n', 'symmetric');
    t.equal(merge(base, 'zero\n' + base, base + 'seven\n'), 'zero\n' + base + 'seven\n', 'insertions at both ends');
    t.equal(merge(base, 'one\nthree\nfour\nfive\nsix\n', 'one\ntwo\nthree\nfour\nsix\n'), 'one\nthree\nfour\nsix\n', 'deletions of different lines');
    t.equal(merge(base, base.replace('two', 'TWO'), base.replace('two', 'TWO')), base.replace('two', 'TWO'), 'the same edit on both sides');
    t.equal(merge(base, base, base.replace('five', 'V')), base.replace('five', 'V'), 'one side unchanged: the other wins');
});
t.test('CRLF and a missing final newline survive byte for byte', async (t) => {
    const o = 'a\r\nb\r\nc\r\nd\r\ne';
    t.equal(merge(o, 'A\r\nb\r\nc\r\nd\r\ne', 'a\r\nb\r\nc\r\nd\r\nE'), 'A\r\nb\r\nc\r\nd\r\nE');
    t.equal(merge('', 'x\n', ''), 'x\n', 'from an empty base');
});
t.test('overlapping, adjacent, binary and oversized edits do not merge', async (t) => {
    t.equal(merge(base, base.replace('three', 'A'), base.replace('three', 'B')), null, 'the same line');
    t.equal(merge(base, base.replace('three', 'A'), base.replace('four', 'B')), null, 'adjacent lines (as git)');
    t.equal(mergeText(B(base), Buffer.from([0x6f, 0, 0x0a]), B(base)), null, 'a NUL byte: binary');
    t.equal(mergeText(B(base), Buffer.from([0xff, 0xfe, 0x0a]), B(base)), null, 'invalid UTF-8: binary');
    const big = Buffer.alloc(MERGE_MAX_BYTES + 1, 0x61);
    t.equal(mergeText(B(base), big, B(base)), null, 'larger than MERGE_MAX_BYTES');
    t.equal(isText(B('héllo wörld\n')), true);
});
t.test('bufferContent: chunks that cover the buffer, with their SHA-256', async (t) => {
    const buf = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < buf.length; i++)
        buf[i] = (i * 2654435761) >>> 24;
    const c = bufferContent(buf);
    t.equal(c.size, buf.length);
    let at = 0;
    for (const b of c.blocks) {
        t.equal(b.offset, at, 'contiguous');
        const bytes = await c.read(b.offset, b.size);
        if (sha256hex(bytes) !== b.hash)
            t.fail(`block at ${b.offset}: wrong hash`);
        at += b.size;
    }
    t.equal(at, buf.length, 'the blocks cover the whole buffer');
    t.same(bufferContent(Buffer.alloc(0)).blocks, [], 'empty: no blocks');
});
//# sourceMappingURL=merge.test.js.map