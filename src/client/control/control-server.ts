/**
 * Control socket of a running mount: a small HTTP/JSON server on a UNIX socket in the state
 * directory, used by `loft status`, `loft pin` and `loft unpin`. Only the mount's owner can reach
 * it (the socket is created with mode 0600).
 *
 *   GET  /status            → status object (see client.ts DriveStatus)
 *   GET  /snapshot          → the mirror and outbox as one consistent DriveSnapshot (`loft check`)
 *   POST /pin   {paths}     → {ok: true} | {error}
 *   POST /unpin {paths}     → {ok: true} | {error}
 */
import { chmodSync, rmSync } from 'node:fs';
import http from 'node:http';
import { LoftError } from '../../shared/errors.js';

export interface ControlHandlers {
  status(): unknown;
  /** See check/mirror-snapshot.ts: read synchronously, so it is one state of the mirror. */
  snapshot(): unknown;
  pin(paths: string[]): void;
  unpin(paths: string[]): void;
}

/** Largest control request body (a list of paths). */
const MAX_BODY = 4 * 1024 * 1024;

export class ControlServer {
  readonly #server: http.Server;
  readonly socketPath: string;

  constructor(socketPath: string, handlers: ControlHandlers) {
    this.socketPath = socketPath;
    this.#server = http.createServer((req, res) => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) req.destroy();
        else chunks.push(c);
      });
      req.on('end', () => {
        try {
          if (req.method === 'GET' && req.url === '/status') return send(200, handlers.status());
          if (req.method === 'GET' && req.url === '/snapshot') return send(200, handlers.snapshot());
          if (req.method === 'POST' && (req.url === '/pin' || req.url === '/unpin')) {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { paths?: unknown };
            if (!Array.isArray(body.paths) || !body.paths.every((p) => typeof p === 'string')) {
              return send(400, {
                error: { code: 'BAD_REQUEST', message: 'paths must be a list of strings' },
              });
            }
            if (req.url === '/pin') handlers.pin(body.paths);
            else handlers.unpin(body.paths);
            return send(200, { ok: true });
          }
          send(404, { error: { code: 'NOT_FOUND', message: `no control route ${req.method} ${req.url}` } });
        } catch (err) {
          const e = err instanceof LoftError ? err : new LoftError('INTERNAL', (err as Error).message);
          send(e.status === 500 ? 500 : 400, { error: { code: e.code, message: e.message } });
        }
      });
    });
  }

  async listen(): Promise<void> {
    rmSync(this.socketPath, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.socketPath, () => resolve());
    });
    chmodSync(this.socketPath, 0o600);
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    rmSync(this.socketPath, { force: true });
  }
}
