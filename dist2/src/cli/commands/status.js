import { formatBytes } from '../../shared/size.js';
import { control, findMount } from '../control-client.js';
/** How often `--wait` asks the mount again (ms). */
const WAIT_POLL_MS = 200;
function bar(done, total, width = 20) {
    const f = total === 0 ? 1 : done / total;
    const n = Math.round(f * width);
    return `[${'#'.repeat(n)}${'-'.repeat(width - n)}] ${Math.floor(f * 100)}%`;
}
export function render(s) {
    const lines = [
        `Loft drive at ${s.mountpoint}: ${s.user} @ ${s.server} — ${s.online ? 'online' : `OFFLINE (${s.offlineReason})`}`,
        `  tree:      ${s.files} files, ${s.synced ? 'synced' : 'first sync in progress'}`,
        `  cache:     ${formatBytes(s.cache.usedBytes)} of ${formatBytes(s.cache.capBytes)} ${bar(s.cache.usedBytes, s.cache.capBytes)} (${s.cache.blocks} blocks)`,
        `  downloads: ${s.downloads.blocks ? `${s.downloads.blocks} blocks (${formatBytes(s.downloads.bytes)}) in flight; ` : 'none in flight; '}${formatBytes(s.downloadedBytes)} since mount`,
        `  pins:      ${s.pins.files ? `${s.pins.files} files, ${formatBytes(s.pins.cachedBytes)} of ${formatBytes(s.pins.totalBytes)} local ${bar(s.pins.cachedBytes, s.pins.totalBytes)}${s.pins.error ? ` (waiting: ${s.pins.error})` : ''}` : 'none'}`,
        `  uploads:   ${s.pending ? `${s.pending} pending, ${s.uploading} uploading` : 'nothing pending'}; ${formatBytes(s.uploadedBytes)} since mount${s.dirtyFiles ? `; ${s.dirtyFiles} files with local changes` : ''}`,
    ];
    for (const u of s.uploads)
        lines.push(`    ↑ ${u.path} (${formatBytes(u.size)}): ${formatBytes(u.sent)} of ${formatBytes(u.toSend)} new bytes ${bar(u.sent, u.toSend)}`);
    for (const q of s.queue.slice(0, 10))
        lines.push(`    · ${q.op} ${q.path}${q.attempts ? ` (tried ${q.attempts}×: ${q.error})` : ''}`);
    if (s.queue.length > 10 || s.pending > s.queue.length)
        lines.push(`    … ${s.pending - Math.min(10, s.queue.length)} more`);
    if (s.pushError)
        lines.push(`    last error (retrying): ${s.pushError}`);
    lines.push(`  conflicts: ${s.conflicts.length ? '' : 'none'}`);
    for (const c of s.conflicts)
        lines.push(`    ! ${c}`);
    return lines.join('\n') + '\n';
}
export function registerStatus(program) {
    program
        .command('status')
        .description('what the running drive is doing: online, cache, downloads, pins, uploads, conflicts')
        .option('--state <dir>', 'state directory of the mount (env LOFT_STATE)')
        .option('--json', 'print one JSON object')
        .option('--wait', 'return only when every local change is committed on the server')
        .action(async (opts) => {
        const mount = findMount(opts.state);
        let s = await control(mount, 'GET', '/status');
        while (opts.wait && (s.pending > 0 || s.uploading > 0)) {
            await new Promise((r) => setTimeout(r, WAIT_POLL_MS));
            s = await control(mount, 'GET', '/status');
        }
        process.stdout.write(opts.json ? JSON.stringify(s) + '\n' : render(s));
    });
}
//# sourceMappingURL=status.js.map