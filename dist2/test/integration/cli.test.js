/** The `loft` command as a user runs it: help everywhere, one-line errors, scriptable tokens. */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { TOKEN_RE } from '../../src/server/tokens.js';
import { runLoft } from '../helpers/server-process.js';
const data = mkdtempSync(path.join(os.tmpdir(), 'loft-cli-'));
t.teardown(() => rmSync(data, { recursive: true, force: true }));
function oneLineError(t, r, pattern) {
    t.not(r.code, 0, 'non-zero exit');
    const lines = r.stderr.trimEnd().split('\n');
    t.equal(lines.length, 1, `one line on stderr: ${JSON.stringify(r.stderr)}`);
    t.match(lines[0], /^loft: /);
    t.match(lines[0], pattern);
}
t.test('--help on every command', async (t) => {
    for (const args of [[], ['serve'], ['user'], ['user', 'add'], ['user', 'token']]) {
        const r = await runLoft([...args, '--help']);
        t.equal(r.code, 0, `loft ${args.join(' ')} --help`);
        t.match(r.stdout, /Usage: loft/);
    }
});
t.test('user add prints the token alone on the last line', async (t) => {
    const r = await runLoft(['user', 'add', 'alice', '--data', data]);
    t.equal(r.code, 0, r.stderr);
    const last = r.stdout.trimEnd().split('\n').pop();
    t.match(last, TOKEN_RE);
    const r2 = await runLoft(['user', 'token', 'alice', '--data', data, '--device', 'phone', '--ttl', '30d']);
    t.equal(r2.code, 0, r2.stderr);
    const tok2 = r2.stdout.trimEnd().split('\n').pop();
    t.match(tok2, TOKEN_RE);
    t.not(tok2, last);
});
t.test('user errors are one line and a non-zero exit', async (t) => {
    oneLineError(t, await runLoft(['user', 'add']), /missing required argument/);
    oneLineError(t, await runLoft(['user', 'add', 'alice', '--data', data]), /already exists/);
    oneLineError(t, await runLoft(['user', 'add', '../evil', '--data', data]), /user name/);
    oneLineError(t, await runLoft(['user', 'token', 'nobody', '--data', data]), /no user nobody/);
    oneLineError(t, await runLoft(['user', 'token', 'alice', '--data', data, '--ttl', 'soon']), /not a duration/);
    oneLineError(t, await runLoft(['frobnicate']), /unknown command/);
    oneLineError(t, await runLoft(['serve', '--bogus']), /unknown option/);
    oneLineError(t, await runLoft(['serve', '--data', data, '--listen', 'nonsense']), /HOST:PORT/);
});
t.test('serve on a busy port fails with one line', async (t) => {
    const blocker = net.createServer();
    await new Promise((r) => blocker.listen(0, '127.0.0.1', r));
    const port = blocker.address().port;
    t.teardown(() => blocker.close());
    oneLineError(t, await runLoft(['serve', '--data', data, '--listen', `127.0.0.1:${port}`]), /EADDRINUSE|in use/);
});
//# sourceMappingURL=cli.test.js.map