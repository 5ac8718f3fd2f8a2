/**
 * fio on a real FUSE mount of a real `loft mount` process, against a real `loft serve` process:
 * random mixed reads and writes of varying sizes from two jobs at once, and a long sequential write,
 * each verified by fio (crc32c of every block it wrote). Then every change must reach the server:
 * once the mount reports nothing pending, a second device with a fresh state directory reads the
 * files back and they hash the same as on the first device.
 *
 * fio comes from Debian (`apt-get install fio`); without it this test fails (it does not skip).
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { waitFor } from '../helpers/devices.js';
import { MountProcess } from '../helpers/mount-process.js';
import { runLoft, ServerProcess } from '../helpers/server-process.js';
const server = new ServerProcess();
const mounts = [];
const work = mkdtempSync(path.join(os.tmpdir(), 'loft-fio-'));
t.teardown(async () => {
    for (const m of mounts)
        await m.dispose().catch(() => undefined);
    await server.dispose();
    rmSync(work, { recursive: true, force: true });
});
/** The fio binary's version line, or null when fio is not installed. */
function fioVersion() {
    try {
        return execFileSync('fio', ['--version'], { encoding: 'utf8' }).trim();
    }
    catch {
        return null;
    }
}
/** Runs fio to completion (never throws); its working directory is a temp dir (no state files in the repo). */
function fio(args, timeoutMs) {
    return new Promise((resolve) => {
        execFile('fio', args, { cwd: work, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
            const code = err
                ? typeof err.code === 'number'
                    ? err.code
                    : null
                : 0;
            resolve({ code, output: `${stdout}\n${stderr}` });
        });
    });
}
/** Checks one fio run: exit 0, no verify complaint, every job reporting err=0. */
function checkFio(t, name, run) {
    const tail = run.code === 0 ? '' : `\n${run.output.slice(-4000)}`;
    t.equal(run.code, 0, `${name}: fio exits 0${tail}`);
    const complaints = run.output
        .split('\n')
        .filter((l) => /verify/i.test(l) && /(bad|fail|mismatch|error|expected)/i.test(l));
    t.same(complaints, [], `${name}: no verify errors`);
    const errs = [...run.output.matchAll(/err=\s*(\d+)/g)].map((m) => Number(m[1]));
    t.ok(errs.length > 0, `${name}: fio reported its jobs${tail}`);
    t.same(errs.filter((e) => e !== 0), [], `${name}: every job reports err=0`);
}
async function sha256File(file) {
    const h = createHash('sha256');
    for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 }))
        h.update(chunk);
    return h.digest('hex');
}
/** name → { size, sha256 } of every regular file in dir. */
async function hashes(dir) {
    const out = {};
    for (const name of readdirSync(dir).sort()) {
        const p = path.join(dir, name);
        const st = statSync(p);
        if (st.isFile())
            out[name] = { size: st.size, sha256: await sha256File(p) };
    }
    return out;
}
/** Waits until the mount has committed everything; the error tells what was left. */
async function settled(m, ms) {
    let last = null;
    try {
        return await waitFor('pending === 0', async () => {
            last = await m.statusDirect();
            return last.pending === 0 && last.uploading === 0 && last;
        }, ms);
    }
    catch (err) {
        throw new Error(`${err.message}; last status ${JSON.stringify(last)}; mount stderr:\n${m.stderr.slice(-3000)}`);
    }
}
/** Shared by the two tests: the writer's and the reader's mounts and what the first one wrote. */
let writer = null;
let reader = null;
let written = {};
const COMMON = [
    '--ioengine=psync',
    '--direct=0',
    '--verify=crc32c',
    '--do_verify=1',
    '--verify_fatal=1',
    '--verify_state_save=0',
    '--fsync_on_close=1',
    '--group_reporting=0',
];
async function rev(file) {
    return execFileSync('getfattr', ['--only-values', '-n', 'user.loft.rev', file], { encoding: 'utf8' });
}
t.test('fio verifies its writes on the mount, and the server ends up with the same files', async (t) => {
    const version = fioVersion();
    if (!version) {
        t.fail('fio is not installed: this test needs the `fio` binary on PATH (Debian: apt-get install fio)');
        return;
    }
    t.comment(version);
    await server.start();
    const token = await server.addUser('fio', ['--device', 'fio-writer']);
    const m = new MountProcess(server.url, token, { cacheSize: '512M' });
    mounts.push(m);
    t.teardown(() => {
        if (!t.passing())
            t.comment(`stderr of the writing mount:\n${m.stderr.slice(-6000)}`);
    });
    await m.start();
    const dir = m.p('fio');
    execFileSync('mkdir', [dir]);
    writer = m;
    const common = [`--directory=${dir}`, ...COMMON];
    // Two jobs at once, random reads and writes of 4 KiB..256 KiB, each over its own 64 MiB file.
    const random = await fio(['--name=randrw', '--rw=randrw', '--bsrange=4k-256k', '--size=64m', '--numjobs=2', ...common], 90_000);
    checkFio(t, 'randrw', random);
    // One sequential stream of 1 MiB writes over 128 MiB, read back and verified.
    const seq = await fio(['--name=seq', '--rw=write', '--bs=1m', '--size=128m', ...common], 90_000);
    checkFio(t, 'sequential write', seq);
    const local = await hashes(dir);
    t.same(Object.keys(local), ['randrw.0.0', 'randrw.1.0', 'seq.0.0'], 'the files fio left behind');
    t.same(Object.values(local).map((f) => f.size), [64, 64, 128].map((n) => n * 1024 * 1024), 'their sizes');
    // Everything committed: the mount's own status, then the real CLI's `status --wait`.
    const s = await settled(m, 90_000);
    t.equal(s.pending, 0);
    const cli = await runLoft(['status', '--wait', '--json', '--state', m.state]);
    t.equal(cli.code, 0, `loft status --wait: ${cli.stderr}`);
    if (cli.code === 0)
        t.match(JSON.parse(cli.stdout), { pending: 0, uploading: 0 });
    // A second device of the same user, fresh state: it knows only what the server has.
    const other = await server.addToken('fio', ['--device', 'fio-reader']);
    const m2 = new MountProcess(server.url, other, { cacheSize: '512M' });
    mounts.push(m2);
    reader = m2;
    t.teardown(() => {
        if (!t.passing())
            t.comment(`stderr of the reading mount:\n${m2.stderr.slice(-6000)}`);
    });
    await m2.start();
    await waitFor('the second device to see the files', async () => {
        try {
            return readdirSync(m2.p('fio')).length === Object.keys(local).length;
        }
        catch {
            return false;
        }
    }, 30_000);
    const remote = await hashes(m2.p('fio'));
    t.same(remote, local, 'the second device reads the same bytes (sha256) as the first wrote');
    written = local;
    t.same((await m2.statusDirect()).pending, 0, 'the reader changed nothing');
});
t.test('fio edits the committed files in place on the other device; the first one sees the result', async (t) => {
    if (!writer || !reader || Object.keys(written).length === 0) {
        t.fail('the first test did not leave two mounts with committed files');
        return;
    }
    const [m1, m2] = [writer, reader];
    t.teardown(() => {
        if (!t.passing())
            t.comment(`stderr of the editing mount:\n${m2.stderr.slice(-6000)}`);
    });
    const dir = m2.p('fio');
    const before = {
        'randrw.0.0': await rev(m2.p('fio/randrw.0.0')),
        'seq.0.0': await rev(m2.p('fio/seq.0.0')),
    };
    // Committed files, edited where they are: scattered small random writes (a fixed seed), and a
    // run of writes over the last MiB. Only what is written is local; the rest stays the server's.
    const scattered = await fio([
        '--name=edit',
        `--filename=${path.join(dir, 'randrw.0.0')}`,
        '--rw=randwrite',
        '--bsrange=4k-64k',
        '--size=64m',
        '--io_size=1m',
        '--randseed=1234',
        ...COMMON,
    ], 60_000);
    checkFio(t, 'scattered edits', scattered);
    const tail = await fio([
        '--name=tail',
        `--filename=${path.join(dir, 'seq.0.0')}`,
        '--rw=write',
        '--bs=64k',
        '--offset=127m',
        '--size=1m',
        ...COMMON,
    ], 60_000);
    checkFio(t, 'edit of the last MiB', tail);
    const edited = await hashes(dir);
    t.same(Object.fromEntries(Object.entries(edited).map(([k, v]) => [k, v.size])), Object.fromEntries(Object.entries(written).map(([k, v]) => [k, v.size])), 'in-place edits keep the sizes');
    t.not(edited['randrw.0.0'].sha256, written['randrw.0.0'].sha256, 'randrw.0.0 changed');
    t.not(edited['seq.0.0'].sha256, written['seq.0.0'].sha256, 'seq.0.0 changed');
    t.equal(edited['randrw.1.0'].sha256, written['randrw.1.0'].sha256, 'randrw.1.0 untouched');
    await settled(m2, 45_000);
    const after = {
        'randrw.0.0': await rev(m2.p('fio/randrw.0.0')),
        'seq.0.0': await rev(m2.p('fio/seq.0.0')),
    };
    t.not(after['randrw.0.0'], before['randrw.0.0'], 'a new revision of randrw.0.0');
    t.not(after['seq.0.0'], before['seq.0.0'], 'a new revision of seq.0.0');
    // The first device pulls the new revisions and reads them from the server.
    await waitFor('the first device to see the new revisions', async () => (await rev(m1.p('fio/randrw.0.0'))) === after['randrw.0.0'] &&
        (await rev(m1.p('fio/seq.0.0'))) === after['seq.0.0'], 30_000);
    t.same(await hashes(m1.p('fio')), edited, 'the first device reads the edited bytes (sha256)');
});
//# sourceMappingURL=drive-fio.test.js.map