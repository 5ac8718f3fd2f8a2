import path from 'node:path';
import type { Command } from 'commander';
import { systemClock } from '../../shared/clock.js';
import { LoftError } from '../../shared/errors.js';
import { formatBytes, parseDuration, parseSize } from '../../shared/size.js';
import { DEFAULT_DATA, metaOption } from './serve.js';

interface AddOptions {
  data: string;
  meta?: string;
  blocks?: string;
  device?: string;
  ttl?: string;
}

async function add(name: string, opts: AddOptions, createUser: boolean): Promise<void> {
  const { openStores } = await import('../../server/server.js');
  const { addDevice } = await import('../../server/accounts.js');
  const stores = await openStores(path.resolve(opts.data), { meta: opts.meta, blocks: opts.blocks });
  try {
    const ttlMs = opts.ttl === undefined ? undefined : parseDuration(opts.ttl);
    const created = await addDevice(stores.meta, systemClock, name, {
      createUser,
      ttlMs,
      ...(opts.device ? { device: opts.device } : {}),
    });
    if (createUser) process.stdout.write(`created user ${name}; device token (shown once):\n`);
    else process.stdout.write(`new device for ${name}; device token (shown once):\n`);
    // The token alone on the last line, so scripts can take it with `tail -n1`.
    process.stdout.write(`${created.token}\n`);
  } finally {
    await stores.meta.close();
    await stores.blocks.close();
  }
}

async function quota(name: string, size: string, opts: AddOptions): Promise<void> {
  const bytes = size === 'none' ? null : parseSize(size);
  if (bytes !== null && bytes <= 0)
    throw new LoftError('BAD_REQUEST', 'a quota is a positive size, or "none"');
  const { openStores } = await import('../../server/server.js');
  const stores = await openStores(path.resolve(opts.data), { meta: opts.meta, blocks: opts.blocks });
  try {
    await stores.meta.setQuota(name, bytes);
    process.stdout.write(
      bytes === null ? `${name}: no quota\n` : `${name}: quota ${formatBytes(bytes)} (${bytes} bytes)\n`,
    );
  } finally {
    await stores.meta.close();
    await stores.blocks.close();
  }
}

/**
 * Reads the new password: from standard input when it is not a terminal (first line), else typed
 * twice without echo. Never from the command line (it would show in `ps` and shell history).
 */
async function readPassword(): Promise<string> {
  if (!process.stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0]!;
  }
  const ask = async (prompt: string): Promise<string> => {
    process.stderr.write(prompt);
    process.stdin.setRawMode(true);
    let line = '';
    try {
      for await (const c of process.stdin) {
        for (const ch of (c as Buffer).toString('utf8')) {
          if (ch === '\r' || ch === '\n') return line;
          if (ch === '\u0003') throw new LoftError('BAD_REQUEST', 'cancelled');
          line = ch === '\u007f' ? line.slice(0, -1) : line + ch;
        }
      }
      return line;
    } finally {
      process.stdin.setRawMode(false);
      process.stdin.pause();
      process.stderr.write('\n');
    }
  };
  const first = await ask('new web password: ');
  if ((await ask('again: ')) !== first) throw new LoftError('BAD_REQUEST', 'the two passwords differ');
  return first;
}

async function passwd(name: string, opts: AddOptions): Promise<void> {
  const { openStores } = await import('../../server/server.js');
  const { hashPassword } = await import('../../server/web/passwords.js');
  const hash = await hashPassword(await readPassword());
  const stores = await openStores(path.resolve(opts.data), { meta: opts.meta, blocks: opts.blocks });
  try {
    await stores.meta.setPasswordHash(name, hash);
    process.stdout.write(`web password of ${name} set\n`);
  } finally {
    await stores.meta.close();
    await stores.blocks.close();
  }
}

export function registerUser(program: Command): void {
  const user = program.command('user').description('manage users (run on the server machine)');
  const common = (c: Command) =>
    metaOption(c)
      .option('--data <dir>', 'server data directory', process.env.LOFT_DATA ?? DEFAULT_DATA)
      .option('--device <name>', 'name of the device the token is for')
      .option('--ttl <duration>', 'token lifetime (30s, 12h, 90d); default: no expiry');
  common(user.command('add <name>').description('create a user and print a device token')).action(
    (name: string, opts: AddOptions) => add(name, opts, true),
  );
  metaOption(
    user
      .command('quota <name> <size>')
      .description('limit the bytes of the live files a user owns (10G; "none" lifts it)')
      .option('--data <dir>', 'server data directory', process.env.LOFT_DATA ?? DEFAULT_DATA),
  ).action((name: string, size: string, opts: AddOptions) => quota(name, size, opts));
  common(user.command('token <name>').description('print a new device token for an existing user')).action(
    (name: string, opts: AddOptions) => add(name, opts, false),
  );
  metaOption(
    user
      .command('passwd <name>')
      .description('set the web sign-in password (read from stdin when it is not a terminal)')
      .option('--data <dir>', 'server data directory', process.env.LOFT_DATA ?? DEFAULT_DATA),
  ).action((name: string, opts: AddOptions) => passwd(name, opts));
}
