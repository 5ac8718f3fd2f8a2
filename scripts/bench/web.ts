// The web page on a huge folder (issue 16; bar: the first screen of a 10,000-entry folder in
// <= 1 s). Usage: node scripts/bench/web.mjs [--entries 10000] [--runs 5]
// Needs a build (npx tsc -p .) and Debian's chromium (scripts/setup). Starts a real `loft serve` on loopback,
// makes a folder of --entries files (POST /v1/batch, 1,000 commits a request), signs in through
// the page in headless chromium, then times, --runs times, opening the folder from the home
// folder by its link: from the click to the first row painted (first screen), and to every row
// in the DOM (the page renders the rest frame by frame, so it stays responsive meanwhile). Also
// prints the server's time for the folder's listing alone: the page's GET /v1/web/list (no block
// lists) and the drive's GET /v1/list.
import { spawn } from 'node:child_process';
import { launchBrowser } from '../../test/helpers/browser.js';
import { LOFT_BIN, ServerProcess } from '../../test/helpers/server-process.js';
import { parseFlags } from './lib/cli.js';
import { runBench } from './lib/main.js';
import { track } from './lib/proc.js';
import { machineLoad } from './lib/report.js';

// The page's globals, as far as this bench touches them inside page.evaluate (no DOM lib here).
interface PageElement {
  textContent: string | null;
  dataset: Record<string, string | undefined>;
  click(): void;
}
declare const document: {
  querySelectorAll(selector: string): { length: number };
  querySelector(selector: string): PageElement | null;
  getElementById(id: string): PageElement | null;
};
declare const location: { hash: string };
declare const requestAnimationFrame: (cb: () => void) => number;

const USAGE = 'usage: node scripts/bench/web.mjs [--entries N] [--runs N]';
const PASSWORD = 'bench password';
// The upper middle, as this bench has always taken.
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

runBench('web', async () => {
  const { entries, runs } = parseFlags(process.argv.slice(2), { entries: 10000, runs: 5 }, USAGE);
  const server = new ServerProcess();
  track({ stop: () => server.dispose() });
  await server.start(60_000);
  const browser = await launchBrowser();
  track({ stop: () => browser.close() });
  const token = await server.addUser('web');
  // The password on stdin, as a person types it (runLoft has no stdin).
  const child = spawn(process.execPath, [LOFT_BIN, 'user', 'passwd', 'web', '--data', server.dataDir], {
    stdio: ['pipe', 'ignore', 'inherit'],
  });
  child.stdin.end(`${PASSWORD}\n`);
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  if (code !== 0) throw new Error(`loft user passwd exited with ${code}`);
  const call = async (method: string, route: string, body?: unknown): Promise<unknown> => {
    const res = await fetch(server.url + route, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${route}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  await call('POST', '/v1/mkdir', { path: '/big' });
  for (let i = 0; i < entries; i += 1000) {
    const ops: unknown[] = [];
    for (let j = i; j < Math.min(entries, i + 1000); j++)
      ops.push({
        op: 'commit',
        path: `/big/file ${String(j).padStart(5, '0')}.txt`,
        parentRev: null,
        blocks: [],
        size: 0,
        mtime: 1,
      });
    await call('POST', '/v1/batch', { ops });
  }
  const listMs: Record<string, number[]> = { '/v1/web/list': [], '/v1/list': [] };
  const listBytes: Record<string, number> = {};
  for (let r = 0; r < runs; r++) {
    for (const route of Object.keys(listMs)) {
      const s = performance.now();
      const res = await fetch(`${server.url}${route}?path=%2Fbig`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const text = await res.text();
      listMs[route]!.push(performance.now() - s);
      listBytes[route] = text.length;
      const got = (JSON.parse(text) as { entries: unknown[] }).entries.length;
      if (got !== entries) throw new Error(`${route} listed ${got}`);
    }
  }

  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  await page.goto(server.url + '/');
  await page.waitForSelector('#signin-user', { visible: true });
  await page.type('#signin-user', 'web');
  await page.type('#signin-password', PASSWORD);
  await page.click('#signin-form button[type=submit]');
  await page.waitForSelector('#rows tr a[href="#/big"]');
  const first: number[] = [];
  const all: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t = await page.evaluate(
      (n: number) =>
        new Promise<{ first: number; all: number }>((resolve) => {
          const start = performance.now();
          let firstAt = 0;
          let asked = false;
          const poll = () => {
            const rows = document.querySelectorAll('#rows tr');
            const shown = document.querySelector('#crumbs [aria-current]')?.textContent === 'big';
            if (!firstAt && shown && rows.length > 0) {
              // The next frame is the one that paints the first screen.
              if (!asked) requestAnimationFrame(() => (firstAt = performance.now() - start));
              asked = true;
            }
            if (firstAt && document.getElementById('rows')!.dataset.complete === '1' && rows.length === n)
              return resolve({ first: firstAt, all: performance.now() - start });
            requestAnimationFrame(poll);
          };
          document.querySelector('#rows tr a[href="#/big"]')!.click();
          requestAnimationFrame(poll);
        }),
      entries,
    );
    first.push(t.first);
    all.push(t.all);
    await page.evaluate(() => (location.hash = '#/'));
    await page.waitForSelector('#rows tr a[href="#/big"]');
  }
  if (process.env.LOFT_BENCH_PROFILE) {
    const prof = await page.evaluate(async () => {
      const a = performance.now();
      const res = await fetch('/v1/web/list?path=%2Fbig');
      const b = performance.now();
      const text = await res.text();
      const c = performance.now();
      const j = JSON.parse(text) as { entries: unknown[] };
      const d = performance.now();
      return { fetch: b - a, body: c - b, parse: d - c, bytes: text.length, n: j.entries.length };
    });
    console.log(prof);
  }
  console.log(
    `folder of ${entries.toLocaleString('en')} entries, ${runs} runs, headless chromium on loopback`,
  );
  for (const [route, ms] of Object.entries(listMs))
    console.log(
      `GET ${route} alone:`.padEnd(31) +
        ` median ${median(ms).toFixed(0)} ms (${((listBytes[route] ?? NaN) / 1e6).toFixed(2)} MB of JSON)`,
    );
  console.log(
    `click → first screen painted:  median ${median(first).toFixed(0)} ms, max ${Math.max(...first).toFixed(0)} ms (bar: <= 1000 ms) ${median(first) <= 1000 ? 'MET' : 'NOT MET'}`,
  );
  console.log(`click → all rows in the page:  median ${median(all).toFixed(0)} ms`);
  console.log(machineLoad());
});
