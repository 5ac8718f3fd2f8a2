/**
 * BlockIo (hydrate/block-io.ts): the binding's thread-pool jobs (native/block-io.cc) and node's
 * fallback pass the same checks: SHA-256 as node computes it, a cache file written whole
 * (truncating what was there), an errno code on failure, the caller's buffer left as it was.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import {
  defaultBlockIo,
  nativeBlockIo,
  nodeBlockIo,
  type BlockIo,
} from '../../../src/client/hydrate/block-io.js';
import { scopedEnv } from '../../helpers/env.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'loft-block-io-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test(
  "the binding offers block I/O (scripts/setup builds it); a mount uses node's unless asked",
  async (t) => {
    t.equal(nativeBlockIo()?.kind, 'native');
    const setFlag = scopedEnv(t, 'LOFT_NATIVE_BLOCK_IO');
    setFlag(undefined);
    t.equal(defaultBlockIo().kind, 'node');
    setFlag('1');
    t.equal(defaultBlockIo().kind, 'native');
    setFlag('write');
    const io = defaultBlockIo();
    t.equal(io.sha256, nodeBlockIo.sha256, 'write: node hashes');
    t.equal(io.writeFile, nativeBlockIo()!.writeFile, 'write: the binding writes');
  },
);

for (const io of [nativeBlockIo()!, nodeBlockIo] as BlockIo[]) {
  t.test(`${io.kind}: SHA-256, writes, errors`, async (t) => {
    for (const size of [0, 1, 64 * 1024 + 3, 1024 * 1024]) {
      const data = randomBytes(size);
      const copy = Buffer.from(data);
      const want = createHash('sha256').update(data).digest('hex');
      t.equal(await io.sha256(data), want, `${size} bytes`);
      t.same(data, copy, 'the buffer is unchanged');
    }
    // Many at once (the cold read's readahead hashes several blocks in parallel).
    const many = Array.from({ length: 16 }, () => randomBytes(256 * 1024));
    const got = await Promise.all(many.map((b) => io.sha256(b)));
    t.same(
      got,
      many.map((b) => createHash('sha256').update(b).digest('hex')),
    );

    const file = path.join(dir, `${io.kind}-block`);
    writeFileSync(file, randomBytes(300_000));
    const data = randomBytes(200_000);
    await io.writeFile(file, data);
    t.same(readFileSync(file), data, 'written whole, the longer old content truncated');
    await t.rejects(io.writeFile(path.join(dir, 'no-such-dir', 'x'), data), { code: 'ENOENT' });
  });
}
