/**
 * `loft mount --allow-other`: another local user (nobody, through setpriv) uses the drive, and the
 * kernel checks the mode bits (default_permissions); without the flag that user cannot even stat the
 * mountpoint. Then ownership, side by side with ext4: a user made here (a fresh uid, gid and
 * supplementary group) runs the same reads, writes, creates, chmod, chown and utimensat on an ext4
 * folder and on the drive, and every outcome and every resulting owner, mode and time must be the
 * same. Needs root (the test switches users).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { ownershipScript, type Step } from '../helpers/ownership-script.js';
import { MountProcess } from '../helpers/mount-process.js';
import { ServerProcess } from '../helpers/server-process.js';

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;

/** Runs a command as nobody; resolves with its exit status and stderr. */
function asNobody(...cmd: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', ...cmd], {
    encoding: 'utf8',
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const server = new ServerProcess();
let m: MountProcess | undefined;
t.teardown(async () => {
  await m?.dispose();
  await server.dispose();
});

t.test(
  'another user reads and writes exactly as the modes allow',
  { skip: !asRoot && 'needs root' },
  async (t) => {
    await server.start();
    const token = await server.addUser('ao');
    const mnt = new MountProcess(server.url, token, {});
    m = mnt;
    chmodSync(mnt.root, 0o755); // mkdtemp's 0700 would stop nobody before the mount does
    await mnt.start(['--allow-other']);

    writeFileSync(mnt.p('open.txt'), 'for everyone\n', { mode: 0o644 });
    chmodSync(mnt.p('open.txt'), 0o644);
    writeFileSync(mnt.p('private.txt'), 'root only\n');
    chmodSync(mnt.p('private.txt'), 0o600);
    writeFileSync(mnt.p('shared.txt'), 'anyone writes\n');
    chmodSync(mnt.p('shared.txt'), 0o666);
    mkdirSync(mnt.p('drop'));
    chmodSync(mnt.p('drop'), 0o777);
    mkdirSync(mnt.p('closed'));
    chmodSync(mnt.p('closed'), 0o755);

    t.equal(asNobody('cat', mnt.p('open.txt')).stdout, 'for everyone\n', 'reads a 0644 file');
    const denied = asNobody('cat', mnt.p('private.txt'));
    t.not(denied.status, 0, 'cannot read a 0600 file');
    t.match(denied.stderr, /Permission denied/);
    t.match(
      asNobody('sh', '-c', `echo more >> ${mnt.p('open.txt')}`).stderr,
      /Permission denied/,
      'no write to 0644',
    );
    t.equal(asNobody('sh', '-c', `echo more >> ${mnt.p('shared.txt')}`).status, 0, 'writes a 0666 file');
    t.equal(readFileSync(mnt.p('shared.txt'), 'utf8'), 'anyone writes\nmore\n');
    t.equal(
      asNobody('sh', '-c', `echo new > ${mnt.p('drop/new.txt')}`).status,
      0,
      'creates in a 0777 folder',
    );
    t.equal(readFileSync(mnt.p('drop/new.txt'), 'utf8'), 'new\n');
    t.match(
      asNobody('sh', '-c', `echo new > ${mnt.p('closed/new.txt')}`).stderr,
      /Permission denied/,
      'cannot create in a 0755 folder of another user',
    );
    t.not(asNobody('rm', '-f', mnt.p('open.txt')).status, 0, 'cannot delete from a 0755 folder');
    t.equal(readFileSync(mnt.p('open.txt'), 'utf8'), 'for everyone\n', 'refused changes changed nothing');

    // Without --allow-other the kernel keeps every other user out.
    await mnt.stop();
    await mnt.start();
    const out = asNobody('stat', mnt.p('open.txt'));
    t.not(out.status, 0, 'no access at all without --allow-other');
    t.match(out.stderr, /Permission denied/);
  },
);

t.test(
  'a user made here: reads, writes, creates, chmod, chown and utimensat as on ext4',
  { skip: !asRoot && 'needs root' },
  async (t) => {
    const srv = new ServerProcess();
    t.teardown(() => srv.dispose());
    await srv.start();
    const mnt = new MountProcess(srv.url, await srv.addUser('own'), {});
    t.teardown(() => mnt.dispose());
    chmodSync(mnt.root, 0o755);
    await mnt.start(['--allow-other']);
    const ext4 = mkdtempSync(path.join(os.tmpdir(), 'loft-ext4-owners-'));
    t.teardown(() => rmSync(ext4, { recursive: true, force: true }));
    chmodSync(ext4, 0o755);
    const fsType = spawnSync('stat', ['-f', '-c', '%T', ext4], { encoding: 'utf8' }).stdout.trim();
    t.equal(fsType, 'ext2/ext3', 'the reference folder is on ext4');

    const user = freshUser();
    const script = ownershipScript(user);
    const run = (base: string) => script.map((step: Step) => runStep(base, step, user));
    mkdirSync(mnt.p('cmp'));
    chmodSync(mnt.p('cmp'), 0o755);
    const onExt4 = run(ext4);
    const onLoft = run(mnt.p('cmp'));
    t.same(onLoft, onExt4, 'every step and every stat as on ext4');

    // A few outcomes spelled out, so that both sides doing the same wrong thing would still fail.
    const get = (name: string) => onLoft.find((s) => s.startsWith(`${name} `)) ?? `${name} missing`;
    t.equal(get('read-0600'), 'read-0600 EACCES');
    t.equal(get('create-in-0777'), 'create-in-0777 0');
    t.equal(get('chown-to-root'), 'chown-to-root EPERM');
    t.equal(get('utimes-explicit-not-owner'), 'utimes-explicit-not-owner EPERM');
    t.match(get('stat drop/mine.txt'), new RegExp(`^stat drop/mine.txt ${user.uid} ${user.group} `));
    t.match(get('stat sg/subdir'), new RegExp(`^stat sg/subdir ${user.uid} ${user.other} 2755 `));
    t.match(get('stat given.txt'), new RegExp(`^stat given.txt ${user.uid} ${user.gid} 600 `));
  },
);

/** A uid (and gid) no account on this machine has, found the same way every run. */
function freshUser(): { uid: number; gid: number; group: number; other: number } {
  for (let uid = 47_000; uid < 48_000; uid += 10) {
    const taken = [uid, uid + 1, uid + 2].some(
      (id) =>
        spawnSync('getent', ['passwd', String(id)]).status === 0 ||
        spawnSync('getent', ['group', String(id)]).status === 0,
    );
    if (!taken) return { uid, gid: uid, group: uid + 1, other: uid + 2 };
  }
  throw new Error('no free uid in 47000-48000');
}

/**
 * Runs one step in `base`: as root, or as the user (its gid, and `group` as a supplementary group).
 * The result is "NAME STATUS" with STATUS 0 or the errno name the command printed; a stat step
 * prints what stat says.
 */
function runStep(base: string, step: Step, user: { uid: number; gid: number; group: number }): string {
  const as =
    step.as === 'root'
      ? []
      : ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, `--groups=${user.group}`];
  const argv = [...as, 'sh', '-c', step.sh];
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd: base, encoding: 'utf8' });
  if (step.stat) return `${step.name} ${r.stdout.trim()}${r.status === 0 ? '' : ` (status ${r.status})`}`;
  if (r.status === 0) return `${step.name} 0`;
  const errno = /Permission denied/.test(r.stderr)
    ? 'EACCES'
    : /Operation not permitted/.test(r.stderr)
      ? 'EPERM'
      : `status ${r.status}: ${r.stderr.replaceAll(base, 'BASE').trim()}`;
  return `${step.name} ${errno}`;
}
