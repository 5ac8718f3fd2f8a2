/**
 * What every benchmark prints: medians and percentiles, fixed-width numbers, a Markdown table, and
 * the machine's load next to the numbers (the machine is shared; a figure without its load means
 * little).
 */
import fs from 'node:fs';
import os from 'node:os';

export function median(xs: readonly number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Nearest-rank percentile (p in 0..100) of the finite values; NaN when there are none. */
export function percentile(xs: readonly number[], p: number): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** `v` with `digits` decimals, or "—" for NaN / Infinity (a value that was not measured). */
export const fixed = (v: number | undefined, digits = 2): string =>
  v !== undefined && Number.isFinite(v) ? v.toFixed(digits) : '—';

/** An integer with thousands separators (1,000,000). */
export const grouped = (v: number): string =>
  Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '—';

/** PSI cpu "some" avg10 (%), NaN where /proc/pressure is missing. */
export function cpuPressure(): number {
  try {
    const m = /^some avg10=([\d.]+)/m.exec(fs.readFileSync('/proc/pressure/cpu', 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** One line for under a table: load averages, CPU pressure, cores, node. */
export function machineLoad(): string {
  const [l1, l5, l15] = os.loadavg().map((l) => l.toFixed(2));
  const psi = cpuPressure();
  return (
    `load ${l1} ${l5} ${l15}` +
    (Number.isFinite(psi) ? `, cpu pressure ${psi.toFixed(0)}%` : '') +
    `; ${os.cpus().length} cores; node ${process.version}`
  );
}

/**
 * A Markdown table: `header` names the columns; a column whose header ends in ':' is aligned right
 * (the ':' is not printed), as numbers are.
 */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const right = header.map((h) => h.endsWith(':'));
  const names = header.map((h, i) => (right[i] ? h.slice(0, -1) : h));
  const lines = [
    `| ${names.join(' | ')} |`,
    `| ${right.map((r) => (r ? '---:' : '---')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ];
  return lines.join('\n');
}

/** A progress line on stderr, prefixed with the bench's name (stdout holds only the results). */
export const logger =
  (bench: string) =>
  (msg: string): void => {
    process.stderr.write(`${bench} bench: ${msg}\n`);
  };
