/**
 * Structured logs (pino, JSON lines on stderr), quiet by default: `warn` and above unless
 * `--log-level` or LOFT_LOG says otherwise.
 */
import { destination, pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level?: string, name = 'loft'): Logger {
  return pino(
    { name, level: level ?? process.env.LOFT_LOG ?? 'warn', base: { pid: process.pid } },
    destination(2),
  );
}

/** A logger that drops everything (tests of logic). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
