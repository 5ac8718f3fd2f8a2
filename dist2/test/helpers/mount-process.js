/**
 * Runs a real `loft mount` child process for integration tests and reads its status through the
 * real `loft status --json` command. Teardown always leaves no mount behind.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';
import { LOFT_BIN, runLoft } from './server-process.js';
export function isMounted(dir) {
    return readFileSync('/proc/mounts', 'utf8')
        .split('\n')
        .some((l) => l.split(' ')[1] === dir);
}
export function forceUnmount(dir) {
    if (!isMounted(dir))
        return;
    try {
        execFileSync('fusermount', ['-uz', dir], { stdio: 'ignore' });
    }
    catch {
        // already gone
    }
}
export class MountProcess {
    server;
    token;
    options;
    root;
    mountpoint;
    state;
    #child = null;
    stderr = '';
    constructor(server, token, options = {}) {
        this.server = server;
        this.token = token;
        this.options = options;
        this.root = options.root ?? mkdtempSync(path.join(os.tmpdir(), 'loft-mount-'));
        this.mountpoint = path.join(this.root, 'mnt');
        this.state = options.state ?? path.join(this.root, 'state');
        try {
            mkdirSync(this.mountpoint, { recursive: true });
        }
        catch (err) {
            // A stale mount left by a crash answers ENOTCONN: the directory is there.
            if (err.code !== 'ENOTCONN')
                throw err;
        }
    }
    get pid() {
        return this.#child?.pid;
    }
    /** Starts `loft mount` and resolves once it reports the mount; rejects with its stderr otherwise. */
    async start(extra = []) {
        const args = [
            LOFT_BIN,
            'mount',
            this.mountpoint,
            '--server',
            this.server,
            '--token',
            this.token,
            '--state',
            this.state,
        ];
        if (this.options.cacheSize)
            args.push('--cache-size', this.options.cacheSize);
        const child = spawn(process.execPath, [...args, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
        this.#child = child;
        this.stderr = '';
        child.stderr.on('data', (d) => (this.stderr += d.toString()));
        await new Promise((resolve, reject) => {
            let out = '';
            const timer = setTimeout(() => reject(new Error(`mount did not come up in 30 s: ${this.stderr}`)), 30_000);
            child.stdout.on('data', (d) => {
                out += d.toString();
                if (out.includes('mounted at')) {
                    clearTimeout(timer);
                    resolve();
                }
            });
            child.once('exit', (code) => {
                clearTimeout(timer);
                reject(new Error(`loft mount exited with ${code}: ${this.stderr.trim()}`));
            });
        });
    }
    async status() {
        const r = await runLoft(['status', '--json', '--state', this.state]);
        if (r.code !== 0)
            throw new Error(`loft status failed: ${r.stderr}`);
        return JSON.parse(r.stdout);
    }
    /** Path inside the mount. */
    p(rel) {
        return path.join(this.mountpoint, rel);
    }
    /** Status straight from the control socket (no CLI process: for tight polling loops). */
    async statusDirect() {
        const { socket } = JSON.parse(readFileSync(path.join(this.state, 'mount.json'), 'utf8'));
        const agent = new Agent({ connect: { socketPath: socket } });
        try {
            const res = await request('http://loft/status', { dispatcher: agent });
            return (await res.body.json());
        }
        finally {
            await agent.close();
        }
    }
    async stop(signal = 'SIGTERM') {
        const child = this.#child;
        if (!child || child.exitCode !== null || child.signalCode !== null)
            return child?.exitCode ?? null;
        const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
        child.kill(signal);
        const code = await exited;
        return code;
    }
    /** kill -9: leaves a stale FUSE mount behind, as a crash would. */
    async crash() {
        await this.stop('SIGKILL');
    }
    async dispose() {
        await this.stop();
        forceUnmount(this.mountpoint);
        if (!this.options.root)
            rmSync(this.root, { recursive: true, force: true });
    }
}
//# sourceMappingURL=mount-process.js.map