/**
 * Share links through real processes (issue 13, item 2): a real `loft serve`, the real `loft link`
 * commands, and the links opened with curl (the bar: byte-exact download, a range gets 206, a
 * revoked link 404) and undici for the odd requests curl would normalise away. Expiry and the
 * password throttle, which need time to pass, are in test/unit/server/share-links-clock.test.ts
 * on an injected clock.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { request } from 'undici';
import { sha256hex } from '../../src/shared/hash.js';
import { Api } from '../helpers/api.js';
import { LOFT_BIN, runLoft, ServerProcess } from '../helpers/server-process.js';

const execFileP = promisify(execFile);
const server = new ServerProcess();
const tmp = mkdtempSync(path.join(os.tmpdir(), 'loft-links-'));
t.teardown(async () => {
  await server.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

let alice: Api;
let bob: Api;
const aliceTokenFile = path.join(tmp, 'alice.token');
const bobTokenFile = path.join(tmp, 'bob.token');
const ODD = `<b>&"it's".txt`;
const big = [randomBytes(300_000), randomBytes(200_000), randomBytes(123_457)];
const bigBytes = Buffer.concat(big);

t.before(async () => {
  await server.start();
  const a = await server.addUser('alice', ['--device', 'laptop']);
  const b = await server.addUser('bob', ['--device', 'bobs-pc']);
  writeFileSync(aliceTokenFile, a + '\n', { mode: 0o600 });
  writeFileSync(bobTokenFile, b + '\n', { mode: 0o600 });
  alice = new Api(server.url, a);
  bob = new Api(server.url, b);
  for (const [p, chunks] of [
    ['/docs/big.bin', big],
    ['/docs/sub/a.txt', [Buffer.from('hello a\n')]],
    [`/docs/${ODD}`, [Buffer.from('odd\n')]],
    ['/other/secret.txt', [Buffer.from('not shared\n')]],
  ] as const) {
    const r = await alice.writeFile(p, [...chunks]);
    if (r.status !== 200) throw new Error(`commit ${p}: ${r.status} ${JSON.stringify(r.body)}`);
  }
});

/** `loft link …` as a user, credentials from a token file (never a token on the command line). */
function loft(args: string[], tokenFile = aliceTokenFile, input?: string) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(
      process.execPath,
      [LOFT_BIN, ...args, '--server', server.url, '--token-file', tokenFile],
      { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LOFT_TOKEN: '', LOFT_STATE: '' } },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(input ?? '');
    child.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

async function makeLink(args: string[], tokenFile?: string, input?: string): Promise<string> {
  const r = await loft(['link', ...args], tokenFile, input);
  if (r.code !== 0) throw new Error(`loft link ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim().split('\n').pop()!;
}

/** curl: status, headers and body. */
async function curl(
  url: string,
  extra: string[] = [],
): Promise<{ status: number; headers: string; body: Buffer }> {
  const out = path.join(tmp, `curl-${randomBytes(4).toString('hex')}`);
  const hdr = out + '.h';
  const { stdout } = await execFileP('curl', [
    '-s',
    '-o',
    out,
    '-D',
    hdr,
    '-w',
    '%{http_code}',
    ...extra,
    url,
  ]);
  const body = readFileSync(out);
  const headers = readFileSync(hdr, 'utf8');
  rmSync(out);
  rmSync(hdr);
  return { status: Number(stdout), headers, body };
}

t.test('a file link downloads byte-exact with curl; ranges get 206; revoked is 404 at once', async (t) => {
  const url = await makeLink(['/docs/big.bin']);
  t.match(url, new RegExp(`^${server.url}/s/[A-Za-z0-9_-]{43}$`), 'the URL is on the last line');
  const whole = await curl(url);
  t.equal(whole.status, 200);
  t.ok(whole.body.equals(bigBytes), `byte-exact (${whole.body.length} bytes)`);
  t.match(whole.headers, /accept-ranges: bytes/i);
  t.match(whole.headers, /content-disposition: attachment; filename="big.bin"/i);

  // A range across a block boundary (300,000), as a video player's seek asks for.
  const part = await curl(url, ['-r', '299990-300009']);
  t.equal(part.status, 206);
  t.ok(part.body.equals(bigBytes.subarray(299_990, 300_010)), 'the range, byte-exact');
  t.match(part.headers, new RegExp(`content-range: bytes 299990-300009/${bigBytes.length}`, 'i'));
  const tail = await curl(url, ['-H', 'Range: bytes=-100']);
  t.equal(tail.status, 206);
  t.ok(tail.body.equals(bigBytes.subarray(bigBytes.length - 100)), 'a suffix range');
  const open = await curl(url, ['-r', '600000-']);
  t.ok(open.body.equals(bigBytes.subarray(600_000)), 'an open-ended range');
  const head = await curl(url, ['-I']);
  t.equal(head.status, 200);
  t.match(head.headers, new RegExp(`content-length: ${bigBytes.length}`, 'i'), 'HEAD: the size, no body');
  const past = await curl(url, ['-r', `${bigBytes.length}-`]);
  t.equal(past.status, 416, 'a range past the end: 416');
  t.match(past.headers, new RegExp(`content-range: bytes \\*/${bigBytes.length}`, 'i'));

  const revoked = await loft(['link', 'revoke', url]);
  t.equal(revoked.code, 0, revoked.stderr);
  t.equal((await curl(url)).status, 404, 'revoked: 404 at once');
  const again = await loft(['link', 'revoke', url]);
  t.equal(again.code, 1, 'revoking twice is an error');
});

t.test('a folder link: escaped HTML listing, its files download, a zip stream', async (t) => {
  const url = await makeLink(['/docs', '--expires', '7d']);
  const page = await curl(url);
  t.equal(page.status, 200);
  const html = page.body.toString();
  t.match(page.headers, /content-type: text\/html/i);
  t.ok(html.includes('&lt;b&gt;&amp;&quot;it&#39;s&quot;.txt'), 'an odd name is escaped');
  t.notOk(html.includes('<b>&'), 'never raw');
  t.notOk(html.includes('secret.txt'), 'nothing outside the folder');
  const subPage = (await curl(url + '/sub')).body.toString();
  const href = /href="([^"]*a\.txt)"/.exec(subPage)?.[1];
  t.ok(subPage.includes(`href="${new URL(url).pathname}/">Up</a>`), 'Up leads to the linked folder');
  t.ok(href, 'the subfolder lists its file');
  const a = await curl(server.url + href!);
  t.equal(a.body.toString(), 'hello a\n', 'a file of the listing downloads');
  const oddHref = /href="([^"]*%3Cb%3E[^"]*)"/.exec(html)![1]!.replace(/&#39;/g, "'").replace(/&amp;/g, '&');
  t.equal((await curl(server.url + oddHref)).body.toString(), 'odd\n', 'the odd name downloads too');

  const zipFile = path.join(tmp, 'docs.zip');
  const z = await curl(url + '/?zip=1');
  t.equal(z.status, 200);
  writeFileSync(zipFile, z.body);
  const { stdout } = await execFileP('python3', [
    '-c',
    `import zipfile,sys,hashlib,json
z=zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None
print(json.dumps({n: hashlib.sha256(z.read(n)).hexdigest() for n in z.namelist()}))`,
    zipFile,
  ]);
  const entries = JSON.parse(stdout) as Record<string, string>;
  t.same(Object.keys(entries).sort(), [ODD, 'big.bin', 'sub/', 'sub/a.txt'].sort(), 'the zip holds the tree');
  t.equal(entries['big.bin'], sha256hex(bigBytes), 'big.bin byte-exact in the zip');
  t.equal(entries['sub/a.txt'], sha256hex(Buffer.from('hello a\n')));

  const list = await loft(['link', 'list', '--json']);
  const links = JSON.parse(list.stdout).links as { path: string; live: boolean; expiresAt: number | null }[];
  t.ok(
    links.some((l) => l.path === '/docs' && l.live && l.expiresAt !== null),
    'listed, live, with its expiry',
  );
});

t.test('traversal, guessed and odd ids: 404, never content', async (t) => {
  const url = await makeLink(['/docs/sub']);
  const secret = url.split('/s/')[1]!;
  for (const p of [
    `/s/${secret}/..%2f..%2fother/secret.txt`,
    `/s/${secret}/%2e%2e/big.bin`,
    `/s/${secret}/../big.bin`,
    `/s/${secret}/a.txt/x`,
    `/s/${secret}/nope.txt`,
    `/s/${randomBytes(32).toString('base64url')}`,
    `/s/${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`, // one character off
    `/s/short`,
    `/s/${'%00'.repeat(20)}`,
  ]) {
    const r = await request(server.url + p);
    const body = await r.body.text();
    t.ok(r.statusCode === 404 || r.statusCode === 400, `${p}: ${r.statusCode}`);
    t.notOk(body.includes('not shared') || body.includes('hello'), `${p}: no content`);
  }
});

t.test("a link to another user's file is impossible", async (t) => {
  const mine = await alice.get('/v1/node?path=/other/secret.txt');
  const r = await bob.post('/v1/links', { id: mine.body.id });
  t.equal(r.status, 404, "alice's node id in bob's namespace: 404");
  const ns = await bob.post('/v1/links', { ns: mine.body.ns ?? 1, path: '/other/secret.txt' });
  t.ok(ns.status === 403 || ns.status === 404, `alice's namespace: ${ns.status}`);
  const cli = await loft(['link', '/other/secret.txt'], bobTokenFile);
  t.equal(cli.code, 1);
  t.match(cli.stderr, /no such file or folder/);

  // Bob cannot revoke alice's link, by id or by URL.
  const url = await makeLink(['/other/secret.txt']);
  const list = JSON.parse((await loft(['link', 'list', '--json'])).stdout).links as { id: number }[];
  const id = list[list.length - 1]!.id;
  t.equal((await loft(['link', 'revoke', String(id)], bobTokenFile)).code, 1);
  t.equal((await loft(['link', 'revoke', url], bobTokenFile)).code, 1);
  t.equal((await curl(url)).status, 200, 'still served');
  t.equal(JSON.parse((await loft(['link', 'list', '--json'], bobTokenFile)).stdout).links.length, 0);
});

t.test(
  'regression (share fuzz): a link to a file of a shared folder, by the path a member sees',
  async (t) => {
    // The link route looked the path up in the caller's home only: a shared folder's files (and
    // the folder itself) were "no such file or folder" to their members, and to their owner too.
    t.equal((await alice.writeFile('/club/notes.txt', [Buffer.from('club notes\n')])).status, 200);
    t.equal((await alice.post('/v1/shares', { path: '/club', with: 'bob' })).status, 200);
    const fileUrl = await makeLink(['/club/notes.txt'], bobTokenFile);
    t.equal((await curl(fileUrl)).body.toString(), 'club notes\n', "the member's link serves the file");
    const folderUrl = await makeLink(['/club'], aliceTokenFile);
    t.match((await curl(folderUrl)).body.toString(), /notes\.txt/, "the owner's link to the folder lists it");
  },
);

t.test(
  "regression (share fuzz): a commit naming another user's block is refused as one naming no block",
  async (t) => {
    // A hash the server has never seen is "lost" to the durability check before the commit, which
    // answered "must be uploaded again"; another user's block reached the store's possession check
    // ("must be uploaded"). The difference told bob that someone stores that content.
    const theirs = (await alice.get('/v1/node?path=/other/secret.txt')).body.blocks[0] as {
      hash: string;
      size: number;
    };
    const ghost = { hash: createHash('sha256').update('never stored').digest('hex'), size: theirs.size };
    const commit = (blocks: { hash: string; size: number }[], p: string) =>
      bob.post('/v1/commit', {
        path: p,
        parentRev: null,
        blocks,
        size: blocks.length * theirs.size,
        mtime: 1,
      });
    const a = await commit([theirs], '/x1');
    const b = await commit([ghost], '/x1');
    t.equal(a.status, b.status);
    t.same(a.body.error.code, 'BLOCK_UNUSABLE');
    t.equal(a.body.error.message, b.body.error.message, 'the same message');
    // Mixed with a block that is absent everywhere: both listed either way.
    const c = await commit([theirs, ghost], '/x2');
    t.same(c.body.error.missing, [theirs.hash, ghost.hash], 'theirs is listed as missing too');
    const batch = async (blocks: { hash: string; size: number }[]) =>
      (
        await bob.post('/v1/batch', {
          ops: [
            {
              op: 'commit',
              path: '/x3',
              parentRev: null,
              blocks,
              size: blocks.length * theirs.size,
              mtime: 1,
            },
          ],
        })
      ).body.results[0].error;
    const ba = await batch([theirs]);
    const bb = await batch([ghost]);
    t.equal(ba.message, bb.message, 'in a batch too');
    t.same((await batch([theirs, ghost])).missing, [theirs.hash, ghost.hash]);
  },
);

t.test('a password from stdin (never argv): 401 without it, 200 with it', async (t) => {
  const url = await makeLink(['/docs/sub/a.txt', '--password'], aliceTokenFile, 'pa ss:wörd\n');
  const none = await curl(url);
  t.equal(none.status, 401);
  t.match(none.headers, /www-authenticate: Basic/i);
  t.equal((await curl(url, ['-u', 'x:wrong'])).status, 401);
  const ok = await curl(url, ['-u', ':pa ss:wörd']);
  t.equal(ok.status, 200);
  t.equal(ok.body.toString(), 'hello a\n');
  const empty = await loft(['link', '/docs/sub/a.txt', '--password'], aliceTokenFile, '\n');
  t.equal(empty.code, 1, 'an empty password is refused');
  const list = JSON.parse((await loft(['link', 'list', '--json'])).stdout).links as {
    hasPassword: boolean;
  }[];
  t.ok(list.some((l) => l.hasPassword));
  t.notOk(JSON.stringify(list).includes('scrypt'), 'the hash never leaves the server');
});

t.test('usage errors are one line', async (t) => {
  const r = await loft(['link', '/docs', '--expires', 'soon']);
  t.equal(r.code, 1);
  t.match(r.stderr, /^loft: not a duration/);
  const bad = await runLoft(
    ['link', '/docs', '--server', server.url, '--token-file', path.join(tmp, 'nope')],
    {
      env: { LOFT_TOKEN: '', LOFT_STATE: '' },
    },
  );
  t.equal(bad.code, 1);
  t.match(bad.stderr, /cannot read the token file/);
});
