/**
 * The checkers of the deterministic simulation, run after every sync step (every drive settled):
 * (a) each drive is in sync with the server by `loft check`'s comparison (mirror snapshot against
 *     the server's tree by server id: kind, place, revision, content digest; no stuck op);
 * (b) every device shows the same tree through its Vfs (path, kind, size);
 * (c) no lost write: the content of every closed write (SHA-256 at close) is the content of some
 *     revision in the server's history, unless the device that made it replaced or removed it
 *     itself before a sync step (the outbox coalesces such writes by design).
 * Then the whole run: `runDet` (one schedule) and `shrinkSchedule` (a failing schedule cut down to
 * the events it needs, by delta debugging: possible because a schedule replays exactly).
 */
import { checkDrive } from '../../../src/client/check/drive-check.js';
import { mirrorSnapshot } from '../../../src/client/check/mirror-snapshot.js';
import { RemoteClient } from '../../../src/client/remote/remote-client.js';
import { diffModel } from './model.js';
import { DetSim, sha256, type DetOptions, type DetResult } from './det-sim.js';
import type { DetEvent } from './schedule.js';
import { SIM_URL } from './sim-server.js';

export async function checkWorld(sim: DetSim, label: string): Promise<void> {
  const devices = sim.devices.filter((d) => d.core);
  const remote = new RemoteClient({ url: SIM_URL, token: devices[0]!.token, transport: sim.server.direct() });
  // (a)
  for (const d of devices) {
    const { report } = await checkDrive(mirrorSnapshot(d.core!.mirror), remote);
    if (!report.inSync) {
      const lines = [
        ...report.differences
          .slice(0, 12)
          .map(
            (x) =>
              `${x.kind} ${x.path}` +
              (x.local ? ` (here: rev ${x.local.rev}, ${x.local.size} B` : ' (') +
              (x.server ? `; server: ${x.server.path} rev ${x.server.rev}, ${x.server.size} B)` : ')'),
          ),
        ...report.pending.slice(0, 5).map((x) => `pending ${x.op} ${x.path}`),
        ...report.stuck.slice(0, 5).map((x) => `stuck ${x.op} ${x.path}: ${x.error}`),
        ...report.notPulled.slice(0, 5).map((x) => `not pulled ${x.path} rev ${x.rev}`),
        `unsettled ${report.unsettled}, resync ${report.resync} (${d.core!.mirror.resyncIds().join(', ')})`,
      ];
      sim.fail(`${label}: ${d.name} is not in sync with the server:\n    ${lines.join('\n    ')}`);
    }
  }
  // (b)
  const first = devices[0]!;
  const tree = sim.vfsTree(first);
  for (const d of devices.slice(1)) {
    const diff = diffModel(tree, sim.vfsTree(d));
    if (diff.length)
      sim.fail(
        `${label}: ${d.name} shows another tree than ${first.name}:\n    ${diff.slice(0, 12).join('\n    ')}`,
      );
  }
  // (c)
  const history = await historyShas(sim);
  let lost = false;
  for (const w of sim.writes) {
    if (w.exempt || !w.sha || history.has(w.sha)) continue;
    lost = true;
    sim.fail(
      `${label}: lost write: w${w.n} of ${w.device} (node ${w.key}, ${w.sha.slice(0, 8)}) is in no revision`,
    );
  }
  if (lost) sim.fail(`the server's history:\n    ${historyDump(sim).join('\n    ')}`);
}

function historyDump(sim: DetSim): string[] {
  const rows = sim.server.db
    .prepare(
      `SELECT r.seq, r.node_id AS node, r.op, r.parent_id AS parent, r.name, r.kind, r.deleted, r.size,
              (SELECT group_concat(substr(hash, 1, 8)) FROM content_blocks b
                WHERE b.ns_id = r.ns_id AND b.seq = r.content_seq) AS blocks
         FROM revisions r ORDER BY r.seq`,
    )
    .all() as Record<string, unknown>[];
  return rows.map(
    (r) =>
      `#${r.seq} node ${r.node} ${r.op} ${r.deleted ? 'DELETED ' : ''}${r.kind} ${r.parent}/${r.name} ${r.size}B [${r.blocks ?? ''}]`,
  );
}

/** SHA-256 of the content of every file revision the server ever recorded. */
async function historyShas(sim: DetSim): Promise<Set<string>> {
  const db = sim.server.db;
  const rows = db
    .prepare(
      // Each content once (a move or rename keeps its revision's content_seq).
      `SELECT b.seq AS cs, b.hash AS hash FROM content_blocks b
        WHERE (b.ns_id, b.seq) IN (SELECT ns_id, content_seq FROM revisions WHERE kind = 'file' AND deleted = 0)
        ORDER BY b.ns_id, b.seq, b.idx`,
    )
    .all() as { cs: number | null; hash: string | null }[];
  const byContent = new Map<number, string[]>();
  for (const r of rows) {
    const key = r.cs ?? -1;
    let list = byContent.get(key);
    if (!list) byContent.set(key, (list = []));
    if (r.hash) list.push(r.hash);
  }
  const out = new Set<string>();
  for (const hashes of byContent.values()) {
    const parts: Buffer[] = [];
    for (const h of hashes) parts.push((await sim.server.blocks.get(h)) ?? Buffer.alloc(0));
    out.add(sha256(Buffer.concat(parts)));
  }
  out.add(sha256(Buffer.alloc(0)));
  return out;
}

/** Runs one schedule (drawn from the seed, or `options.schedule`) with every checker. */
export async function runDet(options: DetOptions): Promise<DetResult> {
  const sim = new DetSim(options);
  sim.checkAll = (label) => checkWorld(sim, label);
  try {
    await sim.setup();
    await sim.run();
  } catch (err) {
    sim.fail(`simulation error: ${(err as Error)?.stack ?? String(err)}`);
  } finally {
    await sim.dispose();
  }
  return sim.result();
}

/**
 * Delta debugging over the events of a failing schedule: drops chunks of events while the run
 * still fails (any failure), halving the chunk size down to single events. `budget` bounds the runs.
 */
export async function shrinkSchedule(
  seed: number,
  schedule: DetEvent[],
  budget = 300,
  onProgress?: (events: number, runs: number) => void,
): Promise<{ schedule: DetEvent[]; result: DetResult; runs: number }> {
  let best = schedule;
  let bestResult = await runDet({ seed, schedule: best });
  let runs = 1;
  if (bestResult.ok) return { schedule: best, result: bestResult, runs };
  let chunk = Math.max(1, Math.floor(best.length / 2));
  while (runs < budget) {
    let cut = false;
    for (let at = 0; at < best.length && runs < budget;) {
      const candidate = [...best.slice(0, at), ...best.slice(at + chunk)];
      const r = await runDet({ seed, schedule: candidate });
      runs++;
      if (!r.ok) {
        best = candidate;
        bestResult = r;
        cut = true;
        onProgress?.(best.length, runs);
      } else at += chunk;
    }
    if (!cut) {
      if (chunk === 1) break;
      chunk = Math.max(1, Math.floor(chunk / 2));
    }
  }
  return { schedule: best, result: bestResult, runs };
}

export function formatDetFailure(r: DetResult, maxTrace = 300): string {
  const trace = r.trace.length > maxTrace ? ['…', ...r.trace.slice(-maxTrace)] : r.trace;
  return [
    `seed ${r.seed}: ${r.failures.length} finding(s)`,
    ...r.failures.map((f) => '  ' + f),
    `  schedule (${r.schedule.length} events): ${JSON.stringify(r.schedule)}`,
    '  trace:',
    ...trace.map((l) => '    ' + l),
  ].join('\n');
}
