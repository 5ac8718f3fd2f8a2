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
 *
 * `arm(mode, match)`: the next request whose head contains `match` (default a commit) has its answer
 * held forever ('hold': the server did the work, the device waits) or its connection reset when the
 * answer comes ('reset'), once.
 *
 * `stall(re)`: the next request whose head matches `re` is held in the proxy, not sent on
 * (nor anything after it on that connection), until `release()` sends it: a request the server
 * gets only after what the test does meanwhile (a push that arrives after its folder was taken).
 *
 * `refuse(match)`: until `refuse(null)`, every request whose bytes contain `match` (say a file name
 * in a commit's body) never reaches the server: the proxy answers it with a 500 carrying an
 * INTERNAL error, as a server bug on that one request would.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';

type Fault = 'hold' | 'reset';

export class FaultProxy {
  readonly #server = net.createServer((c) => this.#connection(c));
  readonly #sockets = new Set<net.Socket>();
  #online = true;
  #loseAnswers = 0;
  #armed: { mode: Fault; match: string } | null = null;
  #refused: string | null = null;
  #stallMatch: RegExp | null = null;
  readonly #stalled: (() => void)[] = [];
  /** Requests held by `stall` (released or not). */
  stalledRequests = 0;
  /** The method and target of each request `stall` held. */
  readonly stalledTargets: string[] = [];
  /** Requests answered by `refuse`. */
  refusedRequests = 0;
  /** Requests that met an armed fault. */
  affected = 0;
  /** Connections reset because the proxy was offline. */
  refused = 0;
  /** Answers dropped by loseNextAnswers. */
  lostAnswers = 0;
  /** Requests forwarded, by method and path without the query ("POST /v1/batch", "PUT /v1/blocks/:hash"). */
  readonly requests = new Map<string, number>();
  /** Every request's method and target, query included ("GET /v1/changes?cursor=…"), in order. */
  readonly targets: string[] = [];
  url = '';

  constructor(
    private readonly upstreamPort: number,
    private readonly upstreamHost = '127.0.0.1',
  ) {}

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this.url;
  }

  get isOnline(): boolean {
    return this.#online;
  }

  /** Cuts the device off: open connections are reset, new ones are reset at once. */
  offline(): void {
    this.#online = false;
    for (const s of this.#sockets) s.resetAndDestroy();
    this.#sockets.clear();
  }

  online(): void {
    this.#online = true;
  }

  /** The next `n` requests reach the server but their answers are lost (connection reset). */
  loseNextAnswers(n = 1): void {
    this.#loseAnswers += n;
  }

  /** The next request containing `match` gets its answer held or its connection reset (once). */
  arm(mode: Fault, match = 'POST /v1/commit '): void {
    this.#armed = { mode, match };
  }

  /** Holds the next request containing `match` (and what follows on its connection) until release(). */
  stall(match: RegExp): void {
    this.#stallMatch = match;
  }

  /** Sends on the requests held by `stall`. */
  release(): void {
    for (const send of this.#stalled.splice(0)) send();
  }

  /** Answers every request containing `match` with a 500 (INTERNAL) until refuse(null). */
  refuse(match: string | null): void {
    this.#refused = match;
  }

  #connection(client: net.Socket): void {
    if (!this.#online) {
      this.refused++;
      client.on('error', () => {});
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(this.upstreamPort, this.upstreamHost);
    this.#sockets.add(client).add(upstream);
    let fault: Fault | null = null;
    /** Bytes held by `stall` on this connection, in order (null: not stalled). */
    let held: Buffer[] | null = null;
    const end = () => {
      if (!client.destroyed) client.resetAndDestroy();
      if (!upstream.destroyed) upstream.destroy();
      this.#sockets.delete(client);
      this.#sockets.delete(upstream);
    };
    client.on('data', (d: Buffer) => {
      if (held) return void held.push(d);
      if (this.#stallMatch?.test(d.subarray(0, 400).toString('latin1'))) {
        this.#stallMatch = null;
        this.stalledRequests++;
        this.stalledTargets.push(/^\S+ \S+/.exec(d.subarray(0, 400).toString('latin1'))?.[0] ?? '?');
        held = [d];
        this.#stalled.push(() => {
          const bytes = held ?? [];
          held = null;
          for (const b of bytes) if (!upstream.destroyed) upstream.write(b);
        });
        return;
      }
      if (this.#refused && d.includes(this.#refused)) {
        this.refusedRequests++;
        const body = JSON.stringify({ error: { code: 'INTERNAL', message: 'injected fault' } });
        // What the server got of the request (maybe its head) goes nowhere; the client gets the 500.
        upstream.removeAllListeners();
        upstream.on('error', () => {});
        upstream.destroy();
        this.#sockets.delete(upstream);
        client.removeAllListeners('data');
        client.end(
          `HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\n` +
            `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
        );
        return;
      }
      // A request starts with its method: count each one (and lose its answer when asked to).
      const head = /^(GET|POST|PUT|DELETE) (\/[^ ?]*)(\?[^ ]*)?/.exec(d.subarray(0, 400).toString('latin1'));
      if (head) {
        const key = `${head[1]} ${head[2]!.replace(/[0-9a-f]{64}/, ':hash')}`;
        this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
        this.targets.push(`${head[1]} ${head[2]}${head[3] ?? ''}`);
      }
      if (this.#loseAnswers > 0 && head) {
        this.#loseAnswers--;
        this.lostAnswers++;
        fault = 'reset';
      }
      if (this.#armed && d.includes(this.#armed.match)) {
        fault = this.#armed.mode;
        this.#armed = null;
        this.affected++;
      }
      if (!upstream.write(d)) {
        client.pause();
        upstream.once('drain', () => client.resume());
      }
    });
    upstream.on('data', (d: Buffer) => {
      if (fault === 'hold') return;
      if (fault === 'reset') return end();
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

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
