/**
 * The hydration firewall (src/client/fuse/hydration-firewall.ts) through a real mount of a real
 * `loft mount` process: a process under a blocked name (a copy of cat named like an indexer: the
 * kernel's comm is the executable's file name) reads nothing and makes the drive download nothing;
 * a child of such a process neither; a normal reader of the same file succeeds; a budgeted name
 * downloads up to its budget. Listing and stat keep working.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { Api } from '../helpers/api.js';
import { MiB, pseudoRandom, putFile, sha256 } from '../helpers/fixtures.js';
import { MountProcess } from '../helpers/mount-process.js';
import { ServerProcess } from '../helpers/server-process.js';

const execFileP = promisify(execFile);
const server = new ServerProcess();
const bin = mkdtempSync(path.join(os.tmpdir(), 'loft-fw-bin-'));
const mounts: MountProcess[] = [];
t.teardown(async () => {
  for (const m of mounts) await m.dispose();
  await server.dispose();
  rmSync(bin, { recursive: true, force: true });
});

if (process.env.LOFT_FUSE_BACKEND === 'fuse-native') {
  t.pass('the firewall needs the caller pid: libfuse 3 binding only');
  process.exit(0);
}

const photo = pseudoRandom(4 * MiB, 31);
const other = pseudoRandom(2 * MiB, 32);
const budgeted = pseudoRandom(8 * MiB, 33);

/** Runs `program` (a path) with args; resolves with its exit code, stdout and stderr. */
async function run(program: string, args: string[]): Promise<{ code: number; out: Buffer; err: string }> {
  try {
    const { stdout, stderr } = await execFileP(program, args, { encoding: 'buffer', maxBuffer: 64 * MiB });
    return { code: 0, out: stdout, err: stderr.toString() };
  } catch (e) {
    const x = e as { code: number; stdout: Buffer; stderr: Buffer };
    return { code: x.code, out: x.stdout, err: x.stderr.toString() };
  }
}

t.before(async () => {
  await server.start();
  const token = await server.addUser('fw');
  const api = new Api(server.url, token);
  await putFile(api, '/pics/photo.bin', photo);
  await putFile(api, '/pics/other.bin', other);
  await putFile(api, '/pics/big.bin', budgeted);
  // comm comes from the executable's file name: copies of cat and sh under chosen names.
  copyFileSync('/bin/cat', path.join(bin, 'tracker-extract'));
  copyFileSync('/bin/dd', path.join(bin, 'budgeted-dd'));
  copyFileSync('/bin/sh', path.join(bin, 'baloo_file'));
  const m = new MountProcess(server.url, token, {});
  mounts.push(m);
  await m.start(['--download-budget', 'budgeted-dd=3M']);
});

t.test('a blocked name reads nothing and downloads nothing; a normal reader succeeds', async (t) => {
  const m = mounts[0]!;
  const file = m.p('pics/photo.bin');
  t.same(readdirSync(m.p('pics')).sort(), ['big.bin', 'other.bin', 'photo.bin'], 'listing works');
  t.equal(statSync(file).size, photo.length, 'stat works');
  const blocked = await run(path.join(bin, 'tracker-extract'), [file]);
  t.not(blocked.code, 0, 'the indexer fails');
  t.match(blocked.err, /Input\/output error/, 'with EIO');
  t.equal(blocked.out.length, 0, 'no bytes');
  // A child of a blocked process (sh named like baloo running the real cat; the trailing echo
  // keeps sh from exec'ing cat in its place).
  const child = await run(path.join(bin, 'baloo_file'), ['-c', `cat '${m.p('pics/other.bin')}'; echo`]);
  t.match(child.err, /Input\/output error/, 'a child of a blocked process is refused too');
  let s = await m.statusDirect();
  t.equal(s.downloadedBytes, 0, 'nothing downloaded');
  const fw = (s as unknown as { firewall: { active: boolean; refusals: { name: string; count: number }[] } })
    .firewall;
  t.ok(fw.active, 'the firewall is on');
  t.same(fw.refusals.map((r) => r.name).sort(), ['baloo_file', 'tracker-extract']);
  const ok = await run('/bin/cat', [file]);
  t.equal(ok.code, 0, 'cat succeeds');
  t.equal(sha256(ok.out), sha256(photo), 'right bytes');
  s = await m.statusDirect();
  t.ok(s.downloadedBytes >= photo.length, 'downloaded for the normal reader');
  // Once cached, the blocked name reads it (nothing to download).
  const cached = await run(path.join(bin, 'tracker-extract'), [file]);
  t.equal(cached.code, 0, 'a cached file is readable by anyone');
  t.equal(sha256(cached.out), sha256(photo));
  const { stdout } = await execFileP(process.execPath, [
    path.resolve('bin/loft.js'),
    'status',
    '--state',
    m.state,
  ]);
  t.match(stdout, /tracker-extract: \d+ reads/, 'loft status lists the refusal');
});

t.test('a budget: its reads download up to it, then are refused', async (t) => {
  const m = mounts[0]!;
  const file = m.p('pics/big.bin');
  const before = (await m.statusDirect()).downloadedBytes;
  // Random 1 MiB reads (O_DIRECT: no kernel readahead; no sequential stream: no drive readahead),
  // one process each, all under the same name: each demands one 1 MiB block.
  const results: number[] = [];
  for (const skip of [1, 3, 5, 7]) {
    const r = await run(path.join(bin, 'budgeted-dd'), [
      `if=${file}`,
      'bs=1M',
      `skip=${skip}`,
      'count=1',
      'iflag=direct',
      'status=none',
    ]);
    if (r.code === 0) t.ok(r.out.equals(budgeted.subarray(skip * MiB, (skip + 1) * MiB)), `block ${skip}`);
    results.push(r.code);
    if (r.code !== 0) t.comment(`dd skip=${skip}: ${r.err.trim()}`);
  }
  t.same(
    results.map((c) => c === 0),
    [true, true, true, false],
    'three blocks within 3 MiB, the fourth refused',
  );
  const s = await m.statusDirect();
  const fw = (s as unknown as { firewall: { budgets: { name: string; used: number; bytes: number }[] } })
    .firewall;
  t.same(fw.budgets, [{ name: 'budgeted-dd', bytes: 3 * MiB, used: 3 * MiB }]);
  t.equal(s.downloadedBytes - before, 3 * MiB, 'exactly the three blocks downloaded');
});
