/**
 * `loft check [--state DIR] [--json]`: compares a drive (its mirror and queued local changes) with
 * the server's tree, like `rclone check`, and says what differs (src/client/check/).
 *
 * The drive is found as `loft status` finds it: the running mount of `--state DIR` (or LOFT_STATE),
 * else the only running mount, else the default state directory. A running mount answers with one
 * consistent snapshot over its control socket; a drive whose mount is not running is read from its
 * state directory without changing it. The server is read with the drive's own server and token
 * (LOFT_TOKEN, when set, instead of the token the state directory remembers, as for `loft mount`).
 *
 * Exit codes: 0 in sync; 1 not in sync (differences, or changes still pending or stuck);
 * 2 the check could not be made (usage, no drive, server unreachable, token refused).
 */
import path from 'node:path';
import type { Command } from 'commander';
import { checkDrive, type DriveCheck } from '../../client/check/drive-check.js';
import { stateDirSnapshot } from '../../client/check/mirror-snapshot.js';
import type { CheckReport, Difference, DriveSnapshot } from '../../client/check/tree-check.js';
import { RemoteClient } from '../../client/remote/remote-client.js';
import {
  defaultStateDir,
  pidAlive,
  readConfig,
  readMountRecord,
  runningMounts,
  type MountRecord,
} from '../../client/state-dir.js';
import { LoftError } from '../../shared/errors.js';
import { formatBytes } from '../../shared/size.js';
import { control } from '../control-client.js';

export const CHECK_EXIT = { inSync: 0, notInSync: 1, error: 2 } as const;

/** Queued changes listed one per line in the human output before "… N more". */
const PENDING_LINES = 20;
/** The mount reads a snapshot in ~35 µs per node on a loaded machine: a million nodes fit well. */
const SNAPSHOT_TIMEOUT_MS = 10 * 60_000;
/** A request to the server that takes longer than this is reported, not waited on (ms). */
const REQUEST_TIMEOUT_MS = 60_000;

const HELP = `
Exit codes:
  0  in sync: every node matches the server, nothing pending, nothing stuck
  1  not in sync: differences (missing, extra, revision, content, place, kind), or local changes
     still queued or stuck, or server changes the drive has not pulled yet
  2  the check could not be made: bad usage, no drive found, server unreachable, token refused

Differences (one line each; --json has them all with both sides):
  missing   on the server, not in the drive although its journal cursor is past it
  extra     in the drive, not on the server, with nothing queued to send or delete it
  revision  another revision than the server's
  content   same revision, other size or block list (nothing is downloaded: blocks are compared)
  place     same revision and content, another folder or name
  kind      a folder on one side, a file on the other
`;

interface CheckOptions {
  state?: string;
  json?: boolean;
}

export function registerCheck(program: Command): void {
  program
    .command('check')
    .description("compare the drive with the server's tree: what differs, what is still pending")
    .option('--state <dir>', 'state directory of the drive (env LOFT_STATE)')
    .option('--json', 'print one JSON object')
    .addHelpText('after', HELP)
    .action(async (opts: CheckOptions) => {
      let result: DriveCheck;
      let drive: DriveSnapshot;
      try {
        const found = findDrive(opts.state);
        drive = found.mount
          ? await control<DriveSnapshot>(found.mount, 'GET', '/snapshot', undefined, SNAPSHOT_TIMEOUT_MS)
          : stateDirSnapshot(found.state);
        result = await checkWithServer(found.state, drive);
      } catch (err) {
        const message = err instanceof LoftError ? err.message : (err as Error).message;
        process.stderr.write(`loft: check failed: ${message.split('\n')[0]}\n`);
        process.exitCode = CHECK_EXIT.error;
        return;
      }
      const { report } = result;
      process.stdout.write(opts.json ? JSON.stringify(toJson(result, drive)) + '\n' : render(result));
      process.exitCode = report.inSync ? CHECK_EXIT.inSync : CHECK_EXIT.notInSync;
    });
}

/** The drive's state directory, and its running mount if there is one. */
function findDrive(state: string | undefined): { state: string; mount: MountRecord | null } {
  const dir = state ?? (process.env.LOFT_STATE || undefined);
  if (dir) {
    const abs = path.resolve(dir);
    const r = readMountRecord(abs);
    return { state: abs, mount: r && pidAlive(r.pid) ? r : null };
  }
  const running = runningMounts();
  if (running.length === 1) return { state: running[0]!.state, mount: running[0]! };
  if (running.length > 1)
    throw new LoftError('BAD_REQUEST', `${running.length} drives are mounted; say which with --state DIR`);
  const abs = defaultStateDir();
  const r = readMountRecord(abs);
  return { state: abs, mount: r && pidAlive(r.pid) ? r : null };
}

async function checkWithServer(state: string, drive: DriveSnapshot): Promise<DriveCheck> {
  const { tokenFrom } = await import('../credentials.js');
  const token = tokenFrom({}) ?? readConfig(state)?.token;
  if (!token)
    throw new LoftError('BAD_REQUEST', `no device token: ${state} remembers none and LOFT_TOKEN is not set`);
  const caFile = process.env.LOFT_CA || readConfig(state)?.ca;
  const { readCa } = await import('../credentials.js');
  const remote = new RemoteClient({
    url: drive.server,
    token,
    ...(caFile ? { ca: readCa(caFile) } : {}),
    timeoutMs: REQUEST_TIMEOUT_MS,
    connections: 8,
  });
  try {
    return await checkDrive(drive, remote);
  } catch (err) {
    if (err instanceof LoftError && err.code === 'UNAUTHORIZED')
      throw new LoftError(
        'UNAUTHORIZED',
        `${drive.server} refused the drive's token: ${String(err.details?.serverMessage ?? err.message)}`,
      );
    if (err instanceof LoftError && err.code === 'BAD_CURSOR')
      throw new LoftError(
        'BAD_CURSOR',
        `${drive.server} does not know this drive's journal cursor (${err.message}): is it the same server?`,
      );
    throw err;
  } finally {
    await remote.close();
  }
}

const n = (x: number) => x.toLocaleString('en-US');
const plural = (x: number, one: string, many = `${one}s`) => `${n(x)} ${x === 1 ? one : many}`;

function side(s: { rev: number; size: number; kind: string }): string {
  return s.kind === 'dir' ? `folder rev ${s.rev}` : `rev ${s.rev}, ${formatBytes(s.size)}`;
}

function differenceLine(d: Difference): string {
  const head = `  ✗ ${d.kind.padEnd(8)} ${d.path}`;
  const { local: l, server: s } = d;
  switch (d.kind) {
    case 'missing':
      return `${head}: on the server (${side(s!)}), not in the drive`;
    case 'extra':
      if (d.deletedAt === undefined) return `${head}: made here (${l!.kind}), nothing queued to send it`;
      return `${head}: in the drive (${side(l!)}), ${d.deletedAt === null ? 'unknown to the server' : `deleted on the server at rev ${d.deletedAt}`}`;
    case 'kind':
      return `${head}: a ${l!.kind === 'dir' ? 'folder' : 'file'} here, a ${s!.kind === 'dir' ? 'folder' : 'file'} on the server`;
    case 'place':
      return `${head}: the server has it at ${s!.path} (${side(s!)})`;
    case 'content':
      return `${head}: rev ${l!.rev} on both, but ${l!.size === s!.size ? `another block list (${formatBytes(l!.size)})` : `drive ${formatBytes(l!.size)} vs server ${formatBytes(s!.size)}`}`;
    default:
      return `${head}: drive ${side(l!)} vs server ${side(s!)}${s!.path !== l!.path ? ` at ${s!.path}` : ''}`;
  }
}

export function summary(report: CheckReport): string {
  const kinds = new Map<string, number>();
  for (const d of report.differences) kinds.set(d.kind, (kinds.get(d.kind) ?? 0) + 1);
  const detail = [...kinds].map(([k, c]) => `${n(c)} ${k}`).join(', ');
  let line = `check: ${n(report.matching)} matching, ${plural(report.differences.length, 'difference')}${detail ? ` (${detail})` : ''}`;
  const pending = report.pending.length + report.notPulled.length;
  if (pending) {
    const parts = [];
    if (report.pending.length) parts.push(`${plural(report.pending.length, 'local change')} queued`);
    if (report.notPulled.length)
      parts.push(`${plural(report.notPulled.length, 'server change')} not pulled yet`);
    line += `; not in sync yet: ${n(pending)} pending (${parts.join(', ')})`;
  }
  if (report.stuck.length) line += `; ${n(report.stuck.length)} stuck`;
  return line;
}

export function render({ report, serverNodes }: DriveCheck): string {
  const lines = [summary(report)];
  for (const d of report.differences) lines.push(differenceLine(d));
  for (const p of report.pending.slice(0, PENDING_LINES))
    lines.push(
      `  · ${p.op} ${p.path}${p.toPath ? ` -> ${p.toPath}` : ''}${p.attempts ? ` (tried ${p.attempts}×: ${p.error})` : ''}${p.op === 'write' ? ' (open for writing)' : ''}`,
    );
  if (report.pending.length > PENDING_LINES)
    lines.push(`    … ${n(report.pending.length - PENDING_LINES)} more queued`);
  for (const p of report.notPulled.slice(0, PENDING_LINES))
    lines.push(`  ↓ ${p.path}: server rev ${p.rev}${p.deleted ? ' (deleted)' : ''}, not pulled yet`);
  if (report.notPulled.length > PENDING_LINES)
    lines.push(`    … ${n(report.notPulled.length - PENDING_LINES)} more not pulled yet`);
  for (const x of report.stuck)
    lines.push(
      `  ✗ stuck: ${x.op} ${x.path}${x.toPath ? ` -> ${x.toPath}` : ''}: ${x.error ?? 'failed'} (${x.attempts} attempts, since ${new Date(x.since).toISOString()})`,
    );
  if (report.unsettled || report.resync) {
    const parts = [];
    if (report.unsettled)
      parts.push(`${plural(report.unsettled, 'node')} differ until the changes above are through`);
    if (report.resync) parts.push(`${plural(report.resync, 'node')} to fetch again from the server`);
    lines.push(`  … ${parts.join('; ')}`);
  }
  if (report.inSync) lines.push(`in sync (${plural(serverNodes, 'node')} on the server, the root included)`);
  return lines.join('\n') + '\n';
}

function toJson({ report, serverNodes, driveNodes }: DriveCheck, drive: DriveSnapshot) {
  return {
    inSync: report.inSync,
    summary: summary(report),
    matching: report.matching,
    differences: report.differences,
    pending: report.pending,
    notPulled: report.notPulled,
    stuck: report.stuck,
    unsettled: report.unsettled,
    resync: report.resync,
    serverNodes,
    driveNodes,
    server: drive.server,
    user: drive.user,
    cursor: drive.cursor,
  };
}
