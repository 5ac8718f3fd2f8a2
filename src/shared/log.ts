/**
 * Structured logs (pino, JSON lines on stderr), quiet by default: `warn` and above unless
 * `--log-level` or LOFT_LOG says otherwise.
 *
 * One logger per process, made by the CLI's composition root (`loft serve`, `loft mount`) and
 * passed down: the server's HTTP app gets it as fastify's logger, its background parts (garbage
 * collection, content indexer, cross-server wake-ups) a `LogFn` over it. No other module makes a
 * logger or writes to stderr; the CLI writes its user output (progress, one-line errors) itself.
 *
 * Secrets never reach a log: no module logs a header or a request body, a share link's URL is
 * logged as `/s/<secret>` (http/app.ts, `loggedUrl`), and the fields below are censored in case a
 * caller ever passes them in an object.
 */
import { destination, pino, type Logger } from 'pino';

export type { Logger };

/** Object fields a log line never shows (pino redaction), at the top level and one level down. */
const SECRET_FIELDS = ['authorization', 'cookie', 'token', 'password', 'secret'];
const REDACT = [...SECRET_FIELDS, ...SECRET_FIELDS.map((f) => `*.${f}`), 'headers.authorization'];

export function createLogger(level?: string, name = 'loft'): Logger {
  return pino(
    {
      name,
      level: level || process.env.LOFT_LOG || 'warn',
      base: { pid: process.pid },
      redact: { paths: REDACT, censor: '[redacted]' },
    },
    destination(2),
  );
}

/** A logger that drops everything (tests of logic; an HTTP app built without one). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** The narrow log function the server's background parts take. */
export type LogFn = (
  level: 'debug' | 'info' | 'warn' | 'error',
  msg: string,
  fields?: Record<string, unknown> | object,
) => void;

/** A LogFn writing to `logger`. */
export function logTo(logger: Logger): LogFn {
  return (level, msg, fields) => logger[level](fields ?? {}, msg);
}
