/**
 * The CLI's one rule for flags from the environment: LOFT_<FLAG> for every flag of every command,
 * the command line first, an empty value unset, a yes/no flag on only for 1/true/yes.
 */
import type { Command } from 'commander';
import t, { type Test as Tap } from 'tap';
import { buildProgram } from '../../../src/cli/main.js';
import { applyEnvRule, envNameOf, LoftCommand, READ_BY_CODE } from '../../../src/cli/env-flags.js';

/** Commander reads process.env: the test's variables go there, and are taken out after. */
function setEnv(t: Tap, vars: Record<string, string>): NodeJS.ProcessEnv {
  for (const [k, v] of Object.entries(vars)) process.env[k] = v;
  t.teardown(() => {
    for (const k of Object.keys(vars)) delete process.env[k];
  });
  return process.env;
}

function program(env: NodeJS.ProcessEnv) {
  const seen: Record<string, unknown>[] = [];
  const p = new LoftCommand('x').exitOverride();
  p.command('run')
    .option('--tls-cert <file>', 'a file')
    .option('--keep-days <n>', 'days', '30')
    .option('--json', 'machine output')
    .action((o: Record<string, unknown>) => void seen.push(o));
  applyEnvRule(p, env);
  return {
    p,
    seen,
    run: async (...args: string[]) => (await p.parseAsync(['node', 'x', 'run', ...args]), seen.at(-1)!),
  };
}

t.test('names', async (t) => {
  t.equal(envNameOf('--tls-cert'), 'LOFT_TLS_CERT');
  t.equal(envNameOf('--no-download-for'), 'LOFT_NO_DOWNLOAD_FOR');
});

t.test('a value flag from the environment; the command line wins; empty is unset', async (t) => {
  const env = setEnv(t, { LOFT_TLS_CERT: '/etc/c.pem', LOFT_KEEP_DAYS: '' });
  const { run } = program(env);
  t.match(await run(), { tlsCert: '/etc/c.pem', keepDays: '30' }, 'env, and the default for the empty one');
  t.notOk('LOFT_KEEP_DAYS' in env, 'the empty variable is dropped');
  t.match(await run('--tls-cert', '/x.pem'), { tlsCert: '/x.pem' }, 'the flag wins');
});

t.test('a yes/no flag is on only for 1, true or yes', async (t) => {
  for (const [value, on] of [
    ['1', true],
    ['TRUE', true],
    ['yes', true],
    ['0', false],
    ['false', false],
    ['', false],
    ['no', false],
  ] as const) {
    const { run } = program(setEnv(t, { LOFT_JSON: value }));
    t.equal((await run()).json ?? false, on, `LOFT_JSON=${JSON.stringify(value)}`);
  }
});

t.test('every flag of the real CLI has its variable, named by the rule', async (t) => {
  const walk = (c: Command): number =>
    c.options.reduce((n, o) => {
      if (!o.long || o.long === '--help' || o.long === '--version') return n;
      // --token's LOFT_TOKEN is read by credentials.ts, after --token-file (checked below).
      t.equal(o.envVar, READ_BY_CODE.has(o.long) ? undefined : envNameOf(o.long), `${c.name()} ${o.long}`);
      return n + 1;
    }, 0) + c.commands.reduce((n, s) => n + walk(s), 0);
  t.ok(walk(buildProgram()) > 30, 'every command walked');
});

t.test('LOFT_TOKEN does not beat --token-file (it comes last, as before)', async (t) => {
  const env = setEnv(t, { LOFT_TOKEN: 'from-env' });
  const p = buildProgram();
  const history = p.commands.find((c) => c.name() === 'history')!;
  const token = history.options.find((o) => o.long === '--token');
  t.ok(token, 'history takes --token');
  t.equal(token?.envVar, undefined, 'commander does not fill it from LOFT_TOKEN');
  t.equal(env.LOFT_TOKEN, 'from-env');
});
