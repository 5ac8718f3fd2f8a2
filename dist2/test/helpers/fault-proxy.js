/**
 * FaultProxy: a small TCP proxy between one device and the server, for tests that cut a device off
 * the network and bring it back.
 *
 * Online, every connection is piped to the upstream port byte for byte. `offline()` resets every
 * open connection (in-flight requests and long-polls fail as a network error would make them) and
 * resets every new connection at once, until `online()`. The upstream is dialled per connection, so
 * a server restarted on the same port is reached again without touching the proxy; while the server
 * is down a new connection is reset as soon as the upstream dial fails.
 *
 * `loseNextAnswers(n)`: the next n requests are forwarded, but their answers are dropped and the
 * connection reset (the server did the work; the device never hears of it), like a network cut or a
 * crash of the device right after sending.
 */
import net from 'node:net';
export class FaultProxy {
    upstreamPort;
    upstreamHost;
    #server = net.createServer((c) => this.#connection(c));
    #sockets = new Set();
    #online = true;
    #loseAnswers = 0;
    /** Connections reset because the proxy was offline. */
    refused = 0;
    /** Answers dropped by loseNextAnswers. */
    lostAnswers = 0;
    url = '';
    constructor(upstreamPort, upstreamHost = '127.0.0.1') {
        this.upstreamPort = upstreamPort;
        this.upstreamHost = upstreamHost;
    }
    async start() {
        await new Promise((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
        this.url = `http://127.0.0.1:${this.#server.address().port}`;
        return this.url;
    }
    get isOnline() {
        return this.#online;
    }
    /** Cuts the device off: open connections are reset, new ones are reset at once. */
    offline() {
        this.#online = false;
        for (const s of this.#sockets)
            s.resetAndDestroy();
        this.#sockets.clear();
    }
    online() {
        this.#online = true;
    }
    /** The next `n` requests reach the server but their answers are lost (connection reset). */
    loseNextAnswers(n = 1) {
        this.#loseAnswers += n;
    }
    #connection(client) {
        if (!this.#online) {
            this.refused++;
            client.on('error', () => { });
            client.resetAndDestroy();
            return;
        }
        const upstream = net.connect(this.upstreamPort, this.upstreamHost);
        this.#sockets.add(client).add(upstream);
        let lose = false;
        const end = () => {
            if (!client.destroyed)
                client.resetAndDestroy();
            if (!upstream.destroyed)
                upstream.destroy();
            this.#sockets.delete(client);
            this.#sockets.delete(upstream);
        };
        client.on('data', (d) => {
            // A request starts with its method: count each one that may lose its answer.
            if (this.#loseAnswers > 0 && /^(GET|POST|PUT) \//.test(d.subarray(0, 8).toString('latin1'))) {
                this.#loseAnswers--;
                this.lostAnswers++;
                lose = true;
            }
            if (!upstream.write(d)) {
                client.pause();
                upstream.once('drain', () => client.resume());
            }
        });
        upstream.on('data', (d) => {
            if (lose)
                return end();
            if (!client.write(d)) {
                upstream.pause();
                client.once('drain', () => upstream.resume());
            }
        });
        for (const s of [client, upstream]) {
            s.on('error', end);
            s.on('close', end);
        }
    }
    async close() {
        for (const s of this.#sockets)
            s.destroy();
        this.#sockets.clear();
        await new Promise((resolve) => this.#server.close(() => resolve()));
    }
}
//# sourceMappingURL=fault-proxy.js.map