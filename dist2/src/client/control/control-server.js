/**
 * Control socket of a running mount: a small HTTP/JSON server on a UNIX socket in the state
 * directory, used by `loft status`, `loft pin` and `loft unpin`. Only the mount's owner can reach
 * it (the socket is created with mode 0600).
 *
 *   GET  /status            → status object (see client.ts DriveStatus)
 *   POST /pin   {paths}     → {ok: true} | {error}
 *   POST /unpin {paths}     → {ok: true} | {error}
 */
import { chmodSync, rmSync } from 'node:fs';
import http from 'node:http';
import { LoftError } from '../../shared/errors.js';
/** Largest control request body (a list of paths). */
const MAX_BODY = 4 * 1024 * 1024;
export class ControlServer {
    #server;
    socketPath;
    constructor(socketPath, handlers) {
        this.socketPath = socketPath;
        this.#server = http.createServer((req, res) => {
            const send = (status, body) => {
                res.writeHead(status, { 'content-type': 'application/json' });
                res.end(JSON.stringify(body));
            };
            const chunks = [];
            let size = 0;
            req.on('data', (c) => {
                size += c.length;
                if (size > MAX_BODY)
                    req.destroy();
                else
                    chunks.push(c);
            });
            req.on('end', () => {
                try {
                    if (req.method === 'GET' && req.url === '/status')
                        return send(200, handlers.status());
                    if (req.method === 'POST' && (req.url === '/pin' || req.url === '/unpin')) {
                        const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
                        if (!Array.isArray(body.paths) || !body.paths.every((p) => typeof p === 'string')) {
                            return send(400, {
                                error: { code: 'BAD_REQUEST', message: 'paths must be a list of strings' },
                            });
                        }
                        if (req.url === '/pin')
                            handlers.pin(body.paths);
                        else
                            handlers.unpin(body.paths);
                        return send(200, { ok: true });
                    }
                    send(404, { error: { code: 'NOT_FOUND', message: `no control route ${req.method} ${req.url}` } });
                }
                catch (err) {
                    const e = err instanceof LoftError ? err : new LoftError('INTERNAL', err.message);
                    send(e.status === 500 ? 500 : 400, { error: { code: e.code, message: e.message } });
                }
            });
        });
    }
    async listen() {
        rmSync(this.socketPath, { force: true });
        await new Promise((resolve, reject) => {
            this.#server.once('error', reject);
            this.#server.listen(this.socketPath, () => resolve());
        });
        chmodSync(this.socketPath, 0o600);
    }
    async close() {
        this.#server.closeAllConnections();
        await new Promise((resolve) => this.#server.close(() => resolve()));
        rmSync(this.socketPath, { force: true });
    }
}
//# sourceMappingURL=control-server.js.map