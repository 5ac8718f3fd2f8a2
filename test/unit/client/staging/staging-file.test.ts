import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import {
  NO_BASE,
  removeStaging,
  StagingFile,
  type BaseReader,
} from '../../../../src/client/staging/staging-file.js';
import { prng } from '../../../helpers/prng.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'loft-staging-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** A base revision in memory that counts the bytes asked of it. */
function baseOf(data: Buffer): BaseReader & { fetched: number } {
  return {
    fetched: 0,
    async read(offset, out) {
      const n = Math.max(0, Math.min(out.length, data.length - offset));
      data.copy(out, 0, offset, offset + n);
      this.fetched += n;
      return n;
    },
  };
}

t.test('writing into a cloud-only file fetches nothing; reads mix staged and base bytes', async (t) => {
  const baseData = randomBytes(100_000);
  const base = baseOf(baseData);
  const s = await StagingFile.create(dir, 'a', baseData.length);
  await s.write(50_000, Buffer.alloc(1000, 7));
  t.equal(base.fetched, 0, 'a write fetches nothing');
  const out = Buffer.alloc(3000);
  t.equal(await s.read(49_000, out, base), 3000);
  t.ok(out.subarray(0, 1000).equals(baseData.subarray(49_000, 50_000)));
  t.ok(out.subarray(1000, 2000).equals(Buffer.alloc(1000, 7)));
  t.ok(out.subarray(2000).equals(baseData.subarray(51_000, 52_000)));
  t.equal(s.missingBytes, 99_000);
  await s.fill(base);
  t.equal(base.fetched, 2000 + 99_000, 'fill fetched exactly the holes');
  const want = Buffer.from(baseData);
  Buffer.alloc(1000, 7).copy(want, 50_000);
  t.ok(readFileSync(s.path).equals(want), 'the staged file is the complete new content');
  await s.close();
});

t.test(
  'O_TRUNC-style truncate to 0 fetches nothing, and a truncated-then-extended file reads zeros',
  async (t) => {
    const baseData = randomBytes(10_000);
    const base = baseOf(baseData);
    const s = await StagingFile.create(dir, 'b', baseData.length);
    await s.truncate(100);
    await s.truncate(500);
    const out = Buffer.alloc(500);
    await s.read(0, out, base);
    t.ok(out.subarray(0, 100).equals(baseData.subarray(0, 100)));
    t.ok(
      out.subarray(100).equals(Buffer.alloc(400)),
      'bytes cut by the truncate do not come back from the base',
    );
    await s.fill(base);
    t.equal(base.fetched, 200, 'the read and the fill each took the 100 base bytes');
    t.equal(readFileSync(s.path).length, 500);
    const c = await StagingFile.create(dir, 'c', baseData.length);
    await c.truncate(0);
    await c.write(0, Buffer.from('new'));
    await c.fill(base);
    t.equal(base.fetched, 200, 'after truncate(0) nothing more is fetched');
    t.equal(readFileSync(c.path, 'utf8'), 'new');
    await s.close();
    await c.close();
  },
);

t.test('random writes and truncates agree with an in-memory model, also after reopening', async (t) => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    const rnd = prng(seed);
    const baseData = randomBytes(Math.floor(rnd() * 200_000));
    const base = baseOf(baseData);
    let model = Buffer.from(baseData);
    const name = `m${seed}`;
    let s = await StagingFile.create(dir, name, baseData.length);
    for (let op = 0; op < 60; op++) {
      const r = rnd();
      if (r < 0.6) {
        const off = Math.floor(rnd() * (model.length + 20_000));
        const data = randomBytes(1 + Math.floor(rnd() * 30_000));
        await s.write(off, data);
        if (off + data.length > model.length)
          model = Buffer.concat([model, Buffer.alloc(off + data.length - model.length)]);
        data.copy(model, off);
      } else if (r < 0.75) {
        const size = Math.floor(rnd() * (model.length + 10_000));
        await s.truncate(size);
        model =
          size <= model.length
            ? Buffer.from(model.subarray(0, size))
            : Buffer.concat([model, Buffer.alloc(size - model.length)]);
      } else if (r < 0.85) {
        await s.persist();
        await s.close();
        s = (await StagingFile.open(dir, name))!;
      } else {
        const off = Math.floor(rnd() * (model.length + 1));
        const out = Buffer.alloc(Math.floor(rnd() * 50_000));
        const n = await s.read(off, out, base);
        if (!out.subarray(0, n).equals(model.subarray(off, off + out.length)))
          t.fail(`seed ${seed}: read at ${off} differs`);
      }
      if (s.size !== model.length) t.fail(`seed ${seed}: size ${s.size} != ${model.length}`);
    }
    await s.fill(base);
    t.ok(readFileSync(s.path).equals(model), `seed ${seed}: filled staging file equals the model`);
    await s.remove();
  }
});

t.test('open of a staging file that does not exist is null', async (t) => {
  t.equal(await StagingFile.open(dir, 'nope'), null);
});

t.test('a new file writes no metadata before its first commit point; it reopens empty', async (t) => {
  const s = await StagingFile.create(dir, 'fresh', 0);
  await s.write(0, randomBytes(3000)); // the process dies before close or fsync
  await s.close();
  t.notOk(existsSync(path.join(dir, 'fresh.json')), 'no metadata file yet');
  t.equal(await StagingFile.open(dir, 'fresh'), null, 'not a new file: nothing to reopen');
  const again = (await StagingFile.open(dir, 'fresh', true))!;
  t.equal(again.size, 0, 'a new file: empty, as a crash before close leaves it on ext4');
  t.equal(statSync(again.path).size, 0, 'the unsynced bytes are dropped from the data file');
  await again.remove();
  t.notOk(existsSync(again.path), 'removed');
  // Over a base, the metadata is written at once (its baseLimit must survive a crash).
  const over = await StagingFile.create(dir, 'over', 500);
  await over.close();
  t.ok(existsSync(path.join(dir, 'over.json')));
  const reopened = (await StagingFile.open(dir, 'over'))!;
  t.equal(reopened.size, 500);
  await reopened.close();
  await removeStaging(path.join(dir, 'over'));
  t.notOk(existsSync(path.join(dir, 'over.json')), 'removeStaging deletes both files');
  await removeStaging(path.join(dir, 'over')); // and is quiet when they are gone
});

t.test(
  'a staging without a base (NO_BASE) has no metadata file: the size the mirror recorded is its record',
  async (t) => {
    const name = NO_BASE + 'plain';
    const meta = path.join(dir, name + '.json');
    await t.rejects(StagingFile.create(dir, NO_BASE + 'based', 10), /without a base/, 'never over a base');
    const s = await StagingFile.create(dir, name, 0);
    const kept = randomBytes(5000);
    await s.write(0, kept.subarray(0, 1000));
    await s.write(3000, kept.subarray(3000)); // a hole at [1000, 3000): zeros
    kept.fill(0, 1000, 3000);
    await s.persist(); // close: nothing to write here (the mirror records size 5000 with the commit)
    t.notOk(existsSync(meta), 'no metadata file at a commit point');
    await s.sync(); // the group commit's fsync: the data only
    t.notOk(existsSync(meta), 'nor after the fsync');
    await s.write(5000, randomBytes(700)); // after the last commit point: the process dies here
    await s.close();
    t.equal(await StagingFile.open(dir, 'nope-' + name, false, undefined, 5000), null, 'no data file: none');
    const again = (await StagingFile.open(dir, name, false, undefined, 5000))!;
    t.equal(again.size, 5000, 'the recorded size');
    t.equal(again.lostBytes, 0);
    t.ok(again.complete);
    const out = Buffer.alloc(5000);
    t.equal(await again.read(0, out, baseOf(Buffer.alloc(0))), 5000);
    t.same(out, kept, 'the content of the last commit point, hole and all; the later write dropped');
    t.equal(statSync(again.path).size, 5000, 'the data file is its size again');
    await again.truncate(0); // a base-less file truncated stays without metadata
    await again.persist();
    t.notOk(existsSync(meta));
    await again.remove();
    t.notOk(existsSync(again.path), 'removed');
    // Before its first commit point the mirror records size 0: it reopens empty, as a new file does.
    const fresh = await StagingFile.create(dir, name, 0);
    await fresh.write(0, randomBytes(300));
    await fresh.close();
    const empty = (await StagingFile.open(dir, name, false, undefined, 0))!;
    t.equal(empty.size, 0);
    t.equal(statSync(empty.path).size, 0);
    await empty.remove();
    // A power loss that kept less than the recorded size: the lost bytes are reported and read as zeros.
    const cut = await StagingFile.create(dir, name, 0);
    await cut.write(0, randomBytes(4096));
    await cut.close();
    truncateSync(cut.path, 1024);
    const short = (await StagingFile.open(dir, name, false, undefined, 4096))!;
    t.equal(short.size, 4096);
    t.equal(short.lostBytes, 3072);
    const tail = Buffer.alloc(3072, 1);
    await short.read(1024, tail, baseOf(Buffer.alloc(0)));
    t.same(tail, Buffer.alloc(3072), 'zeros where the bytes were lost');
    await short.remove();
  },
);

t.test('writes after the last persist are dropped on reopen: the data file is its size again', async (t) => {
  const s = await StagingFile.create(dir, 'crashed', 0);
  const kept = randomBytes(100);
  await s.write(0, kept);
  await s.persist(true);
  await s.write(100, randomBytes(5000)); // never persisted: the process dies here
  await s.close();
  const again = (await StagingFile.open(dir, 'crashed'))!;
  t.equal(again.size, 100);
  t.ok(again.complete);
  t.same(readFileSync(again.path), kept, 'the data file holds exactly the persisted content');
  await again.remove();
});

t.test(
  'a data file shorter than its metadata (power loss): the lost bytes read as base or zeros',
  async (t) => {
    // The metadata reached the disk, the data's last writes did not (the kernel wrote them back in
    // the other order between two group commits). Before, the upload failed for ever: the chunker
    // saw fewer bytes than the file's size.
    const base = randomBytes(3000);
    const s = await StagingFile.create(dir, 'powerloss', base.length);
    const edit = randomBytes(2000);
    await s.write(1000, edit); // 1000..3000 over the base
    await s.write(3000, randomBytes(1000)); // grows the file to 4000
    await s.persist(true);
    await s.close();
    truncateSync(path.join(dir, 'powerloss'), 2000); // only 1000..2000 of the writes on the disk
    const again = (await StagingFile.open(dir, 'powerloss'))!;
    t.equal(again.lostBytes, 2000, 'the writes past the data on the disk are counted as lost');
    t.equal(again.size, 4000, 'the file keeps its size');
    t.same(again.written, [[1000, 2000]], 'only what is on the disk counts as written');
    t.equal(statSync(again.path).size, 4000, 'the data file is as long as the file again');
    await again.fill(baseOf(base));
    t.ok(again.complete);
    const want = Buffer.concat([
      base.subarray(0, 1000),
      edit.subarray(0, 1000),
      base.subarray(2000),
      Buffer.alloc(1000),
    ]);
    t.same(readFileSync(again.path), want, 'base bytes where the edit was lost, zeros past the base');
    await again.remove();
  },
);

t.test('a data file extended by truncate alone, shorter after a crash: nothing is lost', async (t) => {
  const s = await StagingFile.create(dir, 'extended', 0);
  await s.write(0, randomBytes(10));
  await s.truncate(5000);
  await s.persist(true);
  await s.close();
  truncateSync(path.join(dir, 'extended'), 10);
  const again = (await StagingFile.open(dir, 'extended'))!;
  t.equal(again.lostBytes, 0);
  t.equal(statSync(again.path).size, 5000);
  await again.remove();
});

t.test(
  'persists at once (close(2) and a commit point together) all succeed; the newest lands last',
  async (t) => {
    // Mount seed 3 × 30 (sync-random-mounts): two persists shared one temp file, one renamed it away
    // under the other, and close(2) answered EIO.
    const s = await StagingFile.create(dir, 'twice', 0);
    await s.write(0, randomBytes(100));
    const first = s.persist(true);
    await s.write(100, randomBytes(50));
    const second = s.persist(true);
    const third = s.persist(false);
    const results = await Promise.allSettled([first, second, third]);
    t.same(
      results.map((r) => r.status),
      ['fulfilled', 'fulfilled', 'fulfilled'],
      results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok')).join('; '),
    );
    await s.close();
    const again = (await StagingFile.open(dir, 'twice'))!;
    t.equal(again.size, 150, 'the metadata of the last persist');
    await again.remove();
  },
);

t.test('passthrough: what the kernel wrote to a new file is taken from the file itself', async (t) => {
  const s = await StagingFile.create(dir, NO_BASE + 'external', 0);
  const fd = s.fd;
  if (fd === null) return t.fail('a staging with no base has a descriptor');
  const { writeSync, ftruncateSync } = await import('node:fs');
  const none = baseOf(Buffer.alloc(0));
  writeSync(fd, Buffer.from('hello world'), 0, 11, 0);
  t.equal(s.size, 0, 'the writes went around it');
  t.equal(s.adoptExternal(), true, 'a change is seen');
  t.equal(s.size, 11);
  const out = Buffer.alloc(11);
  t.equal(await s.read(0, out, none), 11);
  t.equal(out.toString(), 'hello world', 'read back through the staging');
  t.equal(s.adoptExternal(), false, 'nothing written since: no change');
  writeSync(fd, Buffer.from('!'), 0, 1, 20); // a hole from 11 to 20
  t.equal(s.adoptExternal(), true);
  const all = Buffer.alloc(21);
  t.equal(await s.read(0, all, none), 21);
  t.ok(all.subarray(11, 20).equals(Buffer.alloc(9)), 'the hole reads as zeros');
  t.equal(all.subarray(20).toString(), '!');
  ftruncateSync(fd, 5);
  t.equal(s.adoptExternal(), true, 'a shorter file is seen too');
  t.equal(s.size, 5);
  t.same(s.written, [[0, 5]], 'staged: exactly the file');
  t.equal(s.complete, true);
  await s.remove();

  const over = await StagingFile.create(dir, 'over-a-base', 100);
  t.equal(over.fd, null, 'a staging over a base is never handed to the kernel (its base is not in it)');
  t.equal(over.adoptExternal(), false);
  await over.remove();
});
