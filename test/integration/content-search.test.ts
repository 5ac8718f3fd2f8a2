/**
 * Content search through a real `loft serve` process and the CLI (issue 16): the background
 * indexer picks up commits without anyone asking, `loft search` prints content hits with a
 * snippet, overwrites and deletes are followed, other users see nothing of it, and the index
 * survives a restart (resumable: nothing is indexed twice, nothing lost).
 */
import t from 'tap';
import { Api } from '../helpers/api.js';
import { runLoft, ServerProcess } from '../helpers/server-process.js';

const server = new ServerProcess();
t.teardown(() => server.dispose());
await server.start();
const aliceToken = await server.addUser('alice');
const bobToken = await server.addUser('bob');
let alice = new Api(server.url, aliceToken);
let bob = new Api(server.url, bobToken);

interface ContentAnswer {
  hits: { path: string; snippet: string }[];
  truncated: boolean;
  behind: boolean;
}

/** Searches until the indexer has caught up with the caller's changes (a condition, not a delay). */
async function search(api: Api, q: string): Promise<string[]> {
  for (let i = 0; i < 400; i++) {
    const r = await api.get(`/v1/search/content?q=${encodeURIComponent(q)}`);
    if (r.status !== 200) throw new Error(`status ${r.status}: ${r.raw.toString()}`);
    const body = r.body as ContentAnswer;
    if (!body.behind) return body.hits.map((h) => `${h.path}: ${h.snippet}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('the content index never caught up');
}

t.test('content hits in the API and the CLI, each user their own', async (t) => {
  t.equal(
    (await alice.writeFile('/src/main.c', [Buffer.from('int main() {\n  parse_conf(argv);\n}\n')])).status,
    200,
  );
  t.equal(
    (await alice.writeFile('/photo.jpg', [Buffer.from([0xff, 0xd8, 0, 0x70, 0x61, 0x72])])).status,
    200,
  );
  t.equal((await bob.writeFile('/bob.txt', [Buffer.from('bob also calls parse_conf')])).status, 200);
  t.same(await search(alice, 'PARSE_CONF'), ['/src/main.c: parse_conf(argv);']);
  t.same(await search(bob, 'parse_conf'), ['/bob.txt: bob also calls parse_conf']);

  const flags = ['--server', server.url, '--token', aliceToken];
  const r = await runLoft(['search', 'parse_conf', ...flags]);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, '/src/main.c: parse_conf(argv);\n', 'no name matches, one content match');
  const both = await runLoft(['search', 'main', ...flags]);
  t.equal(
    both.stdout,
    '/src/main.c\t' + both.stdout.split('\t')[1]!.split('\n')[0] + '\n/src/main.c: int main() {\n',
  );
  const names = await runLoft(['search', 'parse_conf', '--names', ...flags]);
  t.equal(names.stdout, '');
  t.match(names.stderr, /nothing named like "parse_conf"/);
  const j = await runLoft(['search', 'argv', '--json', ...flags]);
  t.match(JSON.parse(j.stdout), { hits: [], content: { hits: [{ path: '/src/main.c' }], behind: false } });

  const short = await alice.get('/v1/search/content?q=ab');
  t.equal(short.status, 400);
  t.match(short.body, { error: { code: 'BAD_REQUEST', message: /at least 3 characters/ } });
  t.equal((await new Api(server.url, null).get('/v1/search/content?q=parse')).status, 401);
});

t.test('overwrite and delete are followed; the index survives a restart', async (t) => {
  const node = (await alice.get('/v1/node?path=' + encodeURIComponent('/src/main.c'))).body as {
    rev: number;
    id: number;
  };
  t.equal(
    (
      await alice.writeFile(
        '/src/main.c',
        [Buffer.from('int main() { return load_settings(); }\n')],
        node.rev,
      )
    ).status,
    200,
  );
  t.same(await search(alice, 'parse_conf'), []);
  t.same(await search(alice, 'load_settings'), ['/src/main.c: int main() { return load_settings(); }']);

  await server.stop();
  await server.start();
  alice = new Api(server.url, aliceToken);
  bob = new Api(server.url, bobToken);
  t.same(await search(alice, 'load_settings'), ['/src/main.c: int main() { return load_settings(); }']);
  t.same(await search(bob, 'parse_conf'), ['/bob.txt: bob also calls parse_conf']);

  const cur = (await alice.get('/v1/node?path=' + encodeURIComponent('/src/main.c'))).body as {
    rev: number;
    id: number;
  };
  t.equal((await alice.post('/v1/delete', { path: '/src/main.c', parentRev: cur.rev })).status, 200);
  t.same(await search(alice, 'load_settings'), []);
});
