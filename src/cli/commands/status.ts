import type { Command } from 'commander';
import type { DriveStatus } from '../../client/client.js';
import { LINGER_MAX_MS } from '../../client/sync/linger.js';
import { formatBytes } from '../../shared/size.js';
import { control, findMount } from '../control-client.js';

/** How often `--wait` asks the mount again (ms). */
const WAIT_POLL_MS = 200;

function bar(done: number, total: number, width = 20): string {
  const f = total === 0 ? 1 : done / total;
  const n = Math.round(f * width);
  return `[${'#'.repeat(n)}${'-'.repeat(width - n)}] ${Math.floor(f * 100)}%`;
}

export function render(s: DriveStatus): string {
  const lines = [
    `Loft drive at ${s.mountpoint}: ${s.user} @ ${s.server} — ${s.online ? 'online' : `OFFLINE (${s.offlineReason})`}`,
    `  fuse:      ${s.fuse ? `${s.fuse.backend} (${s.fuse.why})${s.fuse.allowOther ? ', allow_other' : ''}${s.fuse.passthrough === true ? `, new files written by the kernel (passthrough: ${s.fuse.passthroughFiles} so far)` : ''}` : 'unknown'}`,
    `  tree:      ${s.files} files, ${s.synced ? 'synced' : 'first sync in progress'}`,
    `  cache:     ${formatBytes(s.cache.usedBytes)} of ${formatBytes(s.cache.capBytes)} ${bar(s.cache.usedBytes, s.cache.capBytes)} (${s.cache.blocks} blocks)`,
    `  downloads: ${s.downloads.blocks ? `${s.downloads.blocks} blocks (${formatBytes(s.downloads.bytes)}) in flight; ` : 'none in flight; '}${formatBytes(s.downloadedBytes)} since mount`,
    `  pins:      ${s.pins.files ? `${s.pins.files} files, ${formatBytes(s.pins.cachedBytes)} of ${formatBytes(s.pins.totalBytes)} local ${bar(s.pins.cachedBytes, s.pins.totalBytes)}${s.pins.error ? ` (waiting: ${s.pins.error})` : ''}` : 'none'}`,
    `  uploads:   ${s.pending ? `${s.pending} pending${s.holding ? ` (held while a burst of changes runs, up to ${LINGER_MAX_MS / 1000} s)` : ''}, ${s.uploading} uploading` : 'nothing pending'}; ${formatBytes(s.uploadedBytes)} since mount${s.chunkedAhead?.sentBytes ? ` (${formatBytes(s.chunkedAhead.sentBytes)} sent while files were still being written)` : ''}${s.dirtyFiles ? `; ${s.dirtyFiles} files with local changes` : ''}`,
  ];
  for (const u of s.uploads)
    lines.push(
      `    ↑ ${u.path} (${formatBytes(u.size)}): ${formatBytes(u.sent)} of ${formatBytes(u.toSend)} new bytes ${bar(u.sent, u.toSend)}`,
    );
  for (const q of s.queue.slice(0, 10))
    lines.push(`    · ${q.op} ${q.path}${q.attempts ? ` (tried ${q.attempts}×: ${q.error})` : ''}`);
  if (s.queue.length > 10 || s.pending > s.queue.length)
    lines.push(`    … ${s.pending - Math.min(10, s.queue.length)} more`);
  if (s.pushError) lines.push(`    last error (retrying): ${s.pushError}`);
  for (const x of s.stuck ?? [])
    lines.push(
      `    ✗ stuck: ${x.op} ${x.path}: ${x.error ?? 'failed'} (${x.attempts} attempts, since ${new Date(x.since).toISOString()}; retried every minute, other changes go on)`,
    );
  if (s.firewall?.refusals.length) {
    lines.push(`  firewall:  refused downloads to:`);
    for (const r of s.firewall.refusals)
      lines.push(
        `    ⊘ ${r.name}: ${r.count} reads (${formatBytes(r.bytes)}), last pid ${r.pid} reading ${r.path}`,
      );
  }
  lines.push(`  conflicts: ${s.conflicts.length ? '' : 'none'}`);
  for (const c of s.conflicts) lines.push(`    ! ${c}`);
  return lines.join('\n') + '\n';
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('what the running drive is doing: online, cache, downloads, pins, uploads, conflicts')
    .option('--state <dir>', 'state directory of the mount (env LOFT_STATE)')
    .option('--json', 'print one JSON object')
    .option('--wait', 'return only when every local change is committed on the server')
    .action(async (opts: { state?: string; json?: boolean; wait?: boolean }) => {
      const mount = findMount(opts.state);
      let s = await control<DriveStatus>(mount, 'GET', '/status');
      while (opts.wait && (s.pending > 0 || s.uploading > 0)) {
        // Everything left is set aside or waits behind what is: waiting would never end.
        if (s.blocked && s.stuck?.length && !s.uploading) break;
        await new Promise((r) => setTimeout(r, WAIT_POLL_MS));
        s = await control<DriveStatus>(mount, 'GET', '/status');
      }
      process.stdout.write(opts.json ? JSON.stringify(s) + '\n' : render(s));
      if (opts.wait && s.pending > 0) {
        const what = s.stuck.map((x) => `${x.op} ${x.path} (${x.error ?? 'failed'})`).join('; ');
        process.stderr.write(`loft: ${s.stuck.length} change(s) cannot reach the server now: ${what}\n`);
        process.exitCode = 1;
      }
    });
}
