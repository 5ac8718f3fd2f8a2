/**
 * `loft devices` and `loft devices revoke NAME`: the user's device tokens (name, created, last
 * seen) and revoking one. Credentials as `loft history` finds them.
 */
import type { Command } from 'commander';
import { api, resolveServer, serverOptions, type ServerOptions } from '../server-context.js';
import { table, when } from './table.js';

interface DevicesOptions extends ServerOptions {
  json?: boolean;
}

interface DeviceInfo {
  name: string;
  createdAt: number;
  lastSeenAt: number | null;
  expiresAt: number | null;
  revokedAt: number | null;
  live: boolean;
  current: boolean;
}

async function listDevices(opts: DevicesOptions): Promise<void> {
  const ctx = resolveServer(opts);
  const { devices } = await api<{ devices: DeviceInfo[] }>(ctx, 'GET', '/v1/devices');
  if (opts.json) {
    process.stdout.write(JSON.stringify({ devices }) + '\n');
    return;
  }
  const rows = [['NAME', 'CREATED', 'LAST SEEN', 'STATE']];
  for (const d of devices) {
    const state = d.revokedAt !== null ? `revoked ${when(d.revokedAt)}` : d.live ? 'live' : 'expired';
    rows.push([
      d.name + (d.current ? ' (this one)' : ''),
      when(d.createdAt),
      d.lastSeenAt === null ? 'never' : when(d.lastSeenAt),
      state,
    ]);
  }
  process.stdout.write(table(rows));
}

async function revokeDevice(name: string, opts: DevicesOptions): Promise<void> {
  const ctx = resolveServer(opts);
  const r = await api<{ revoked: number }>(ctx, 'POST', '/v1/devices/revoke', { name });
  process.stdout.write(
    `revoked ${r.revoked === 1 ? 'the device' : `${r.revoked} devices named`} ${name}: its token is refused from now on\n`,
  );
}

export function registerDevices(program: Command): void {
  const devices = serverOptions(
    program
      .command('devices')
      .description("your devices' tokens: name, created, last seen, state")
      .option('--json', 'print one JSON object'),
  ).action((opts: DevicesOptions) => listDevices(opts));
  serverOptions(
    devices
      .command('revoke <name>')
      .description('revoke the device(s) of that name: refused from their next request'),
  ).action((name: string, _opts: DevicesOptions, cmd: Command) =>
    revokeDevice(name, cmd.optsWithGlobals<DevicesOptions>()),
  );
}
