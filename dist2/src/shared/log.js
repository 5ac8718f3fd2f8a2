/**
 * Structured logs (pino, JSON lines on stderr), quiet by default: `warn` and above unless
 * `--log-level` or LOFT_LOG says otherwise.
 */
import { destination, pino } from 'pino';
export function createLogger(level, name = 'loft') {
    return pino({ name, level: level ?? process.env.LOFT_LOG ?? 'warn', base: { pid: process.pid } }, destination(2));
}
/** A logger that drops everything (tests of logic). */
export function silentLogger() {
    return pino({ level: 'silent' });
}
//# sourceMappingURL=log.js.map