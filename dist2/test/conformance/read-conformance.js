import { pseudoRandom, putFile } from '../helpers/fixtures.js';
/** Small blocks so that block boundaries are exercised with small files. */
export const FIXTURE_BLOCK = 64 * 1024;
export const FIXTURE = {
    '/a.txt': Buffer.from('hello, loft\n'),
    '/dir/blocks.bin': pseudoRandom(5 * FIXTURE_BLOCK + 777, 3),
    '/dir/sub/deep.txt': Buffer.from('deep\n'),
    '/names/with space.txt': Buffer.from('space'),
    '/names/ünïcødé ✓.txt': Buffer.from('unicode'),
    '/empty.txt': Buffer.alloc(0),
};
export const FIXTURE_MTIME = 1_700_000_000_000;
export async function putFixture(api) {
    for (const [path, data] of Object.entries(FIXTURE))
        await putFile(api, path, data, FIXTURE_BLOCK);
    const r = await api.post('/v1/mkdir', { path: '/emptydir', mtime: FIXTURE_MTIME, mode: 0o750 });
    if (r.status !== 200)
        throw new Error(`mkdir failed: ${r.status}`);
}
export function readConformance(t, name, fs) {
    t.test(`${name}: read conformance`, async (t) => {
        const blocks = FIXTURE['/dir/blocks.bin'];
        t.test('directories list their children, and only them', async (t) => {
            t.same((await fs().readdir('/')).sort(), ['a.txt', 'dir', 'empty.txt', 'emptydir', 'names']);
            t.same((await fs().readdir('/dir')).sort(), ['blocks.bin', 'sub']);
            t.same((await fs().readdir('/names')).sort(), ['with space.txt', 'ünïcødé ✓.txt']);
            t.same(await fs().readdir('/emptydir'), []);
        });
        t.test('stat: kinds, sizes, modes, mtimes', async (t) => {
            const f = await fs().stat('/dir/blocks.bin');
            t.match(f, { isFile: true, isDir: false, size: blocks.length });
            t.equal(f.mode & 0o777, 0o644);
            const d = await fs().stat('/emptydir');
            t.match(d, { isDir: true, isFile: false });
            t.equal(d.mode & 0o777, 0o750);
            t.equal(d.mtimeMs, FIXTURE_MTIME);
            t.equal((await fs().stat('/empty.txt')).size, 0);
            t.equal((await fs().stat('/names/ünïcødé ✓.txt')).size, 7);
        });
        t.test('errors: ENOENT, ENOTDIR, EISDIR', async (t) => {
            await t.rejects(fs().stat('/missing'), { code: 'ENOENT' });
            await t.rejects(fs().stat('/dir/missing/x'), { code: 'ENOENT' });
            await t.rejects(fs().readdir('/missing'), { code: 'ENOENT' });
            await t.rejects(fs().readdir('/a.txt'), { code: 'ENOTDIR' });
            await t.rejects(fs().read('/dir', 0, 10), { code: 'EISDIR' });
            await t.rejects(fs().read('/missing', 0, 10), { code: 'ENOENT' });
        });
        t.test('reads: exact ranges across block boundaries, short at EOF, empty past it', async (t) => {
            const B = FIXTURE_BLOCK;
            const ranges = [
                [0, 10],
                [B - 5, 10],
                [B - 1, 2 * B + 2],
                [3 * B, B],
                [blocks.length - 100, 100],
                [blocks.length - 100, 4096],
                [0, blocks.length],
            ];
            for (const [off, len] of ranges) {
                const got = await fs().read('/dir/blocks.bin', off, len);
                t.ok(got.equals(blocks.subarray(off, off + len)), `range ${off}+${len}`);
            }
            t.equal((await fs().read('/dir/blocks.bin', blocks.length, 100)).length, 0, 'at EOF');
            t.equal((await fs().read('/dir/blocks.bin', blocks.length + 1000, 100)).length, 0, 'past EOF');
            t.equal((await fs().read('/empty.txt', 0, 100)).length, 0);
            t.equal((await fs().read('/a.txt', 0, 100)).toString(), 'hello, loft\n');
            t.equal((await fs().read('/names/with space.txt', 0, 100)).toString(), 'space');
        });
        t.test('xattrs: state, rev and cached bytes follow hydration', async (t) => {
            t.same((await fs().listxattr('/dir/sub/deep.txt')).sort(), [
                'user.loft.cached_bytes',
                'user.loft.rev',
                'user.loft.state',
            ]);
            t.equal(await fs().xattr('/dir/sub/deep.txt', 'user.loft.state'), 'cloud');
            t.equal(await fs().xattr('/dir/sub/deep.txt', 'user.loft.cached_bytes'), '0');
            t.match(await fs().xattr('/dir/sub/deep.txt', 'user.loft.rev'), /^[1-9]\d*$/);
            await fs().read('/dir/sub/deep.txt', 0, 100);
            t.equal(await fs().xattr('/dir/sub/deep.txt', 'user.loft.state'), 'cached');
            t.equal(await fs().xattr('/dir/sub/deep.txt', 'user.loft.cached_bytes'), '5');
            t.equal(await fs().xattr('/dir/sub/deep.txt', 'user.loft.nope'), null);
            t.equal(await fs().xattr('/emptydir', 'user.loft.state'), 'cloud');
        });
    });
}
//# sourceMappingURL=read-conformance.js.map