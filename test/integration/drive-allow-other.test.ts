/**
 * `loft mount --allow-other`: another local user (nobody, through setpriv) uses the drive, and the
 * kernel checks the mode bits (default_permissions); without the flag that user cannot even stat the
 * mountpoint. Needs root (the test switches users).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import t from 'tap';
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
