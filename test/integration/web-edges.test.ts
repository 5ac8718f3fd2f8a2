/**
 * The web interface's edges, in a real browser (Debian's chromium through puppeteer-core) against a
 * real `loft serve` (issue 16's "Bad input" and the parts web.test.ts does not drive):
 * - an upload whose connection drops midway resumes from the blocks the server lacks (no block is
 *   sent twice, counted on the server); one that cannot finish says so in the page and leaves
 *   nothing half-written for anyone, and sending it again sends only the rest;
 * - drag and drop, and a folder through the folder picker;
 * - a path that is a file where a folder is expected: a clear message in the page, a 4xx;
 * - names with every odd character, shown and opened exactly (and never run as markup);
 * - conflicted copies marked; keyboard navigation and sort;
 * - previews of an image and a PDF, and an audio file that seeks (HTTP ranges);
 * - accessibility: every control named, text contrast (WCAG AA), a visible focus; no sideways
 *   scrolling at phone width.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import t from 'tap';
import type { HTTPRequest, Page } from 'puppeteer-core';
import { Api } from '../helpers/api.js';
import { haveChromium, launchBrowser } from '../helpers/browser.js';
import { MiB, pseudoRandom } from '../helpers/fixtures.js';
import { LOFT_BIN, ServerProcess } from '../helpers/server-process.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;
declare const window: any;
declare const getComputedStyle: any;

const PASSWORD = 'correct horse battery';
const WAIT = { timeout: 60_000 };

if (!haveChromium()) {
  t.fail('chromium is not installed (scripts/setup installs it)');
  process.exit(1);
}

const server = new ServerProcess();
const work = mkdtempSync(path.join(os.tmpdir(), 'loft-web-edges-'));
const browser = await launchBrowser();
t.teardown(async () => {
  await browser.close().catch(() => undefined);
  await server.dispose();
  rmSync(work, { recursive: true, force: true });
});
await server.start();
const api = new Api(server.url, await server.addUser('alice'));
{
  const child = spawn(process.execPath, [LOFT_BIN, 'user', 'passwd', 'alice', '--data', server.dataDir], {
    stdio: ['pipe', 'ignore', 'inherit'],
  });
  child.stdin.end(PASSWORD + '\n');
  await new Promise((r) => child.on('exit', r));
}

async function bytesIn(): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const m = /^loft_block_bytes_in_total(?:\{[^}]*\})? (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(text);
  return m ? Number(m[1]) : 0;
}

const page = await browser.newPage();
await page.setViewport({ width: 1280, height: 800 });
const pageErrors: string[] = [];
page.on('pageerror', (e) => pageErrors.push(String(e)));

async function waitRow(p: Page, name: string, present = true): Promise<void> {
  await p.waitForFunction(
    (n, want) => [...document.querySelectorAll('#rows tr a')].some((a) => a.textContent === n) === want,
    WAIT,
    name,
    present,
  );
}

async function statusMatching(p: Page, re: RegExp): Promise<string> {
  await p.waitForFunction(
    (src) => new RegExp(src).test(document.getElementById('status')!.textContent),
    WAIT,
    re.source,
  );
  return p.$eval('#status', (e) => e.textContent as string);
}

/** Picks `file` in the input and waits until the upload list has one more finished or failed item. */
async function upload(p: Page, file: string, inputId = '#pick-files'): Promise<string> {
  const before = (await p.$$('#upload-list li[data-done], #upload-list li[data-failed]')).length;
  await (await p.$(inputId))!.uploadFile(file);
  await p.waitForFunction(
    (n) => document.querySelectorAll('#upload-list li[data-done], #upload-list li[data-failed]').length > n,
    { timeout: 120_000 },
    before,
  );
  return p.$eval(
    '#upload-list li:last-child',
    (li) => (li.dataset.failed ? 'failed: ' : 'done: ') + li.textContent,
  );
}

// Block PUTs the test lets through (Infinity: all); a PUT past the allowance is dropped as a reset
// connection, before the server sees a byte of it.
let allowPuts = Infinity;
let dropOnce = -1;
let puts = 0;
await page.setRequestInterception(true);
const origins = new Set<string>();
page.on('request', (req: HTTPRequest) => {
  // Only network requests count (data:, blob: and the PDF viewer's chrome-extension: are local).
  const u = new URL(req.url());
  if (u.protocol === 'http:' || u.protocol === 'https:') origins.add(u.origin);
  if (req.method() === 'PUT' && req.url().includes('/v1/blocks/')) {
    const n = puts++;
    if (n >= allowPuts || n === dropOnce) return void req.abort('connectionreset');
  }
  void req.continue();
});

t.test('sign in', async (t) => {
  await page.goto(server.url + '/');
  await page.waitForSelector('#signin-user', { visible: true });
  await page.type('#signin-user', 'alice');
  await page.type('#signin-password', PASSWORD);
  await page.click('#signin-form button[type=submit]');
  await page.waitForSelector('#files-view:not([hidden])', WAIT);
  t.pass('signed in');
});

t.test('a connection dropped midway: the upload resumes, no block sent twice', async (t) => {
  const file = path.join(work, 'resumed.bin');
  const size = 12 * MiB;
  writeFileSync(file, pseudoRandom(size, 31));
  puts = 0;
  dropOnce = 3; // the fourth block's PUT is lost
  // Every text the upload list shows, as it changes (per-file progress, the retry).
  await page.evaluate(() => {
    window.uploadTexts = [];
    new window.MutationObserver(() => {
      for (const li of document.querySelectorAll('#upload-list li span'))
        window.uploadTexts.push(li.textContent);
    }).observe(document.getElementById('upload-list'), {
      subtree: true,
      childList: true,
      characterData: true,
    });
  });
  const in0 = await bytesIn();
  const result = await upload(page, file);
  dropOnce = -1;
  const texts = (await page.evaluate(() => window.uploadTexts)) as string[];
  t.ok(texts.includes('/resumed.bin — checking'), 'the file is hashed first');
  t.ok(
    texts.some((x) => /^\/resumed\.bin — sending [\d.]+ MiB of 12 MiB$/.test(x)),
    'its progress: bytes sent of bytes to send',
  );
  t.ok(texts.includes('/resumed.bin — connection lost, resuming'), 'the drop is shown, and the resume');
  t.equal(await page.$eval('#upload-all', (p: any) => p.value), 1, 'the overall bar is full');
  t.match(result, /^done: /, result);
  t.ok(puts > 4, `${puts} block PUTs, one of them dropped`);
  t.equal(
    (await bytesIn()) - in0,
    size,
    'the server received each byte once: blocks sent before the drop were not sent again',
  );
  t.equal((await api.call('GET', '/v1/node?path=/resumed.bin')).body.size, size);
});

t.test(
  'an upload that cannot finish: a message in the page, nothing half-written; again, only the rest',
  async (t) => {
    const dir = path.join(work, 'stopped');
    mkdirSync(dir);
    const file = path.join(dir, 'stopped.bin');
    const size = 16 * MiB;
    writeFileSync(file, pseudoRandom(size, 32));
    puts = 0;
    allowPuts = 4; // then the network is gone for good
    const in0 = await bytesIn();
    const result = await upload(page, file);
    allowPuts = Infinity;
    t.match(result, /^failed: .*stopped\.bin — failed: connection lost/, 'the page says it failed, and why');
    const sent = (await bytesIn()) - in0;
    t.ok(sent > 0 && sent < size, `${sent} of ${size} bytes reached the server`);
    t.equal(
      (await api.call('GET', '/v1/node?path=/stopped.bin')).status,
      404,
      'no file, not even a partial one',
    );
    const listed = (await api.call('GET', '/v1/list?path=/')).body.entries as { name: string }[];
    t.notOk(
      listed.some((e) => e.name === 'stopped.bin'),
      'not in the listing another device reads',
    );
    const in1 = await bytesIn();
    t.match(await upload(page, file), /^done: /);
    t.equal((await bytesIn()) - in1, size - sent, 'sent again: only the blocks that had not arrived');
    t.equal((await api.call('GET', '/v1/node?path=/stopped.bin')).body.size, size);
  },
);

t.test('drag and drop, and a folder through the folder picker', async (t) => {
  await page.evaluate(() => {
    const dt = new window.DataTransfer();
    dt.items.add(new window.File(['dropped bytes\n'], 'dropped.txt', { type: 'text/plain' }));
    const drop = document.getElementById('drop');
    drop.dispatchEvent(
      new window.DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }),
    );
    drop.dispatchEvent(new window.DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  await waitRow(page, 'dropped.txt');
  const got = await api.call('GET', '/v1/node?path=/dropped.txt');
  t.equal(got.body.size, 'dropped bytes\n'.length, 'a dropped file is uploaded');

  const tree = path.join(work, 'Photos');
  mkdirSync(path.join(tree, 'inner'), { recursive: true });
  writeFileSync(path.join(tree, 'a.txt'), 'a\n');
  writeFileSync(path.join(tree, 'inner', 'b.txt'), 'bb\n');
  const before = (await page.$$('#upload-list li[data-done]')).length;
  await (await page.$('#pick-folder'))!.uploadFile(tree);
  await page.waitForFunction(
    (n) => document.querySelectorAll('#upload-list li[data-done]').length >= n + 2,
    WAIT,
    before,
  );
  await waitRow(page, 'Photos');
  t.equal((await api.call('GET', '/v1/node?path=/Photos/inner/b.txt')).body.size, 3, 'the folder, nested');
  t.equal((await api.call('GET', '/v1/node?path=/Photos/a.txt')).body.size, 2);
});

t.test('a path that is a file where a folder is expected: a message in the page, a 4xx', async (t) => {
  const res = await page.evaluate(() => fetch('/v1/web/list?path=%2Fdropped.txt').then((r) => r.status));
  t.equal(res, 409, 'the server answers 409');
  await page.goto(server.url + '/#/dropped.txt');
  t.match(await statusMatching(page, /^Error: /), /\/dropped\.txt is a file, not a folder/);
  await page.waitForFunction(
    () => document.querySelector('#crumbs [aria-current]')?.textContent === 'Home',
    WAIT,
  );
  await waitRow(page, 'dropped.txt');
  t.pass('and the page shows the folder it is in');
});

const ODD = [
  'a#b?c&d=e.txt',
  '<img src=x onerror="window.pwned=1">.txt',
  '100% real %2F.txt',
  `quote"s and 'apostrophes'.txt`,
  'emoji 😀 ü ß 中文.txt',
  '  spaces around  .txt',
  'back\\slash.txt',
  'tab\there.txt',
];

t.test('names with every odd character: shown, opened and downloaded exactly, never run', async (t) => {
  const folder = 'dir #1 %41 ?x';
  t.equal((await api.post('/v1/mkdir', { path: `/${folder}` })).status, 200);
  for (const name of ODD)
    t.equal(
      (await api.writeFile(`/${folder}/${name}`, [Buffer.from(`content of ${name}`)])).status,
      200,
      name,
    );
  await page.goto(server.url + '/#/');
  await waitRow(page, folder);
  await page.$eval(`#rows tr a[href="#/${encodeURIComponent(folder)}"]`, (a: any) => a.click());
  for (const name of ODD) await waitRow(page, name);
  t.equal(
    await page.$eval('#crumbs [aria-current]', (e) => e.textContent),
    folder,
    'the breadcrumb names the folder',
  );
  const links = await page.$$eval('#rows tr a', (l) =>
    l.map((a: any) => [a.textContent, a.getAttribute('href')]),
  );
  for (const [name, href] of links) {
    const body = await page.evaluate((u) => fetch(u).then((r) => r.text()), href);
    t.equal(body, `content of ${name}`, `downloaded by its link: ${JSON.stringify(name)}`);
  }
  t.equal(await page.evaluate(() => window.pwned), undefined, 'a name is never markup');
  t.equal(await page.$$eval('#rows img', (l) => l.length), 0);
  await page.reload();
  await waitRow(page, ODD[0]!);
  t.equal(
    await page.$eval('#crumbs [aria-current]', (e) => e.textContent),
    folder,
    'the address keeps the folder',
  );
});

t.test('conflicted copies are marked; keyboard navigation and sort', async (t) => {
  await api.post('/v1/mkdir', { path: '/Keys' });
  for (const name of [
    'b.txt',
    'a.txt',
    'c.txt',
    'c (conflicted copy from bob on laptop 2026-12-06 181500).txt',
  ])
    await api.writeFile(`/Keys/${name}`, [Buffer.from(name.repeat(name.length))]);
  await api.post('/v1/mkdir', { path: '/Keys/zfolder' });
  await page.goto(server.url + '/#/Keys');
  await waitRow(page, 'a.txt');
  const badges = await page.$$eval('#rows tr', (rows) =>
    rows.map((r: any) => [r.querySelector('a').textContent, r.querySelector('.badge')?.textContent ?? null]),
  );
  t.same(
    badges,
    [
      ['zfolder', null],
      ['a.txt', null],
      ['b.txt', null],
      ['c (conflicted copy from bob on laptop 2026-12-06 181500).txt', 'conflict'],
      ['c.txt', null],
    ],
    'folders first, then by name; the conflicted copy marked',
  );
  const cells = await page.$$eval('#rows tr', (rows) =>
    rows.map((r: any) => [
      r.querySelector('.col-size').textContent,
      r.querySelector('.col-date').textContent,
    ]),
  );
  t.same(
    cells.map((c) => c[0]),
    ['—', '25 B', '25 B', '3.5 KiB', '25 B'],
    'sizes (a folder has none)',
  );
  t.ok(
    cells.every((c) => /\d/.test(c[1]!)),
    `dates (${cells[0]![1]})`,
  );
  const selected = () => page.$eval('#rows tr[aria-selected="true"] a', (a) => a.textContent);
  await page.focus('#rows tr');
  await page.keyboard.press('ArrowDown');
  t.equal(await selected(), 'a.txt', 'ArrowDown');
  await page.keyboard.press('End');
  t.equal(await selected(), 'c.txt', 'End');
  await page.keyboard.press('ArrowUp');
  t.match(await selected(), /conflicted/, 'ArrowUp');
  await page.keyboard.press('Home');
  t.equal(await selected(), 'zfolder', 'Home');
  t.equal(
    await page.evaluate(() => document.activeElement?.getAttribute('aria-selected')),
    'true',
    'the focus follows the selection',
  );
  await page.click('[data-sort="size"]');
  const bySize = await page.$$eval('#rows tr a', (l) => l.map((a) => a.textContent));
  t.same(
    bySize.slice(0, 2),
    ['zfolder', 'c (conflicted copy from bob on laptop 2026-12-06 181500).txt'],
    'sorted by size, biggest first, folders still first',
  );
  t.equal(bySize.at(-1), 'a.txt');
  await page.click('[data-sort="name"]');
});

t.test('a change without the right CSRF token: refused, and the page says what to do', async (t) => {
  await page.goto(server.url + '/#/');
  await waitRow(page, 'Keys');
  // As when the session changed in another tab: the page holds a stale token.
  await page.evaluate((src) => import(src).then((m: any) => m.setCsrf('stale')), '/assets/api.js');
  await page.click('#new-folder');
  await page.waitForSelector('#ask[open]', WAIT);
  await page.$eval('#ask-input', (i: any) => (i.value = 'Never made'));
  await page.click('#ask-ok');
  t.match(await statusMatching(page, /^Error: /), /x-loft-csrf.*reload the page/, 'a clear message');
  t.equal((await api.call('GET', '/v1/node?path=/Never made')).status, 404, 'nothing made');
  await page.reload();
  await waitRow(page, 'Keys');
  await page.click('#new-folder');
  await page.waitForSelector('#ask[open]', WAIT);
  await page.$eval('#ask-input', (i: any) => (i.value = 'Made'));
  await page.click('#ask-ok');
  await waitRow(page, 'Made');
  t.pass('after a reload, the fresh token works');
});

// A 1×1 PNG.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=',
  'base64',
);
/** A one-page PDF saying "Hello PDF" (offsets in the xref table computed). */
function pdf(): Buffer {
  const objs = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    '<< /Length 44 >>\nstream\nBT /F1 24 Tf 20 40 Td (Hello PDF) Tj ET\nendstream',
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objs.forEach((o, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n`;
  for (const o of offsets) out += `${String(o).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objs.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}
/** `seconds` of 16-bit stereo silence at 44.1 kHz as a WAV file (176,400 bytes a second). */
function wav(seconds: number): Buffer {
  const data = 44_100 * 4 * seconds;
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + data, 4);
  h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(2, 22);
  h.writeUInt32LE(44_100, 24);
  h.writeUInt32LE(44_100 * 4, 28);
  h.writeUInt16LE(4, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(data, 40);
  return Buffer.concat([h, Buffer.alloc(data)]);
}

async function openPreview(name: string): Promise<void> {
  await page.$eval('#panel-close', (b: any) => b.closest('#panel').hidden || b.click());
  await page.evaluate((n) => {
    const a = [...document.querySelectorAll('#rows tr a[data-preview]')].find(
      (x: any) => x.textContent === n,
    );
    a.click();
  }, name);
  await page.waitForFunction((n) => document.getElementById('panel-title')?.textContent === n, WAIT, name);
}

t.test('previews: an image and a PDF in the page; audio that seeks by HTTP ranges', async (t) => {
  await api.post('/v1/mkdir', { path: '/Media' });
  await api.writeFile('/Media/dot.png', [PNG]);
  await api.writeFile('/Media/hello.pdf', [pdf()]);
  const sound = wav(60);
  const blocks: Buffer[] = [];
  for (let at = 0; at < sound.length; at += MiB) blocks.push(sound.subarray(at, at + MiB));
  t.equal((await api.writeFile('/Media/silence.wav', blocks)).status, 200);
  await page.goto(server.url + '/#/Media');
  await waitRow(page, 'silence.wav');

  await openPreview('dot.png');
  await page.waitForFunction(() => document.querySelector('#panel img')?.complete, WAIT);
  t.equal(await page.$eval('#panel img', (i: any) => i.naturalWidth), 1, 'the image is decoded in the page');
  t.equal(
    await page.$eval('#panel img', (i: any) => i.alt),
    'dot.png',
    'with its name as the alternative text',
  );

  await openPreview('hello.pdf');
  const frame = await page.$eval('#panel iframe', (f: any) => ({
    src: f.getAttribute('src'),
    title: f.title,
  }));
  t.equal(frame.title, 'hello.pdf');
  const served = await page.evaluate(
    (u) =>
      fetch(u).then((r) => [r.status, r.headers.get('content-type'), r.headers.get('content-disposition')]),
    frame.src,
  );
  t.same(
    served,
    [200, 'application/pdf', `inline; filename*=UTF-8''hello.pdf`],
    'the frame gets the PDF inline',
  );
  // Chromium's own PDF viewer (an extension frame) takes the document: it renders in the page,
  // sandboxed by the file's CSP as every user's file is.
  const viewer = await page.waitForFrame((f) => f.url().startsWith('chrome-extension://'), WAIT);
  t.match(viewer.url(), /index\.html/, 'the PDF viewer opened in the preview');

  const ranges: string[] = [];
  const onRequest = (req: HTTPRequest) => {
    if (req.url().includes('silence.wav')) ranges.push(req.headers()['range'] ?? 'none');
  };
  page.on('request', onRequest);
  await openPreview('silence.wav');
  await page.waitForFunction(() => document.querySelector('#panel audio')?.readyState >= 1, WAIT);
  const seek = await page.evaluate(
    () =>
      new Promise<[number, number, number]>((resolve) => {
        const a = document.querySelector('#panel audio');
        a.addEventListener('seeked', () => resolve([a.currentTime, a.duration, a.seekable.end(0)]), {
          once: true,
        });
        a.currentTime = 55;
      }),
  );
  page.off('request', onRequest);
  t.equal(Math.round(seek[1]), 60, 'the audio is a minute long');
  t.equal(Math.round(seek[0]), 55, 'it seeked to 55 s');
  t.equal(Math.round(seek[2]), 60, 'all of it is seekable (the server answers ranges)');
  t.ok(
    ranges.some((r) => r.startsWith('bytes=')),
    `the element asked for ranges: ${ranges.join(', ')}`,
  );
  await page.$eval('#panel-close', (b: any) => b.click());
});

/** WCAG 2 contrast of every visible text against the colour behind it; controls' names. */
function audit(): { unnamed: string[]; lowContrast: string[]; overflow: number } {
  const lum = (rgb: number[]) => {
    const [r, g, b] = rgb.map((v) => {
      const c = v / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
  };
  const parse = (s: string) => (s.match(/[\d.]+/g) ?? []).map(Number);
  const background = (e: any): number[] => {
    for (let n = e; n; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3]! > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const visible = (e: any) => {
    const r = e.getBoundingClientRect();
    const s = getComputedStyle(e);
    return (
      r.width > 1 &&
      r.height > 1 &&
      s.visibility !== 'hidden' &&
      s.display !== 'none' &&
      !e.closest('[hidden]')
    );
  };
  const lowContrast: string[] = [];
  for (const e of document.querySelectorAll('body *')) {
    if (!visible(e) || e.disabled || e.closest('[aria-disabled="true"]')) continue;
    const text = [...e.childNodes].filter((n: any) => n.nodeType === 3 && n.textContent.trim()).length;
    if (!text) continue;
    const s = getComputedStyle(e);
    const fg = lum(parse(s.color).slice(0, 3));
    const bg = lum(background(e));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    const px = parseFloat(s.fontSize);
    const large = px >= 24 || (px >= 18.66 && Number(s.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5))
      lowContrast.push(
        `${e.tagName}#${e.id}.${e.className} "${e.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}`,
      );
  }
  const unnamed: string[] = [];
  for (const e of document.querySelectorAll('button, input, select, textarea, a[href]')) {
    const labelled =
      e.getAttribute('aria-label') ||
      e.getAttribute('aria-labelledby') ||
      (e.labels && e.labels.length) ||
      e.textContent.trim() ||
      e.title ||
      e.alt;
    if (!labelled && e.type !== 'hidden') unnamed.push(`${e.tagName}#${e.id}`);
  }
  return { unnamed, lowContrast, overflow: document.documentElement.scrollWidth - window.innerWidth };
}

t.test(
  'accessibility: controls named, contrast, visible focus; phone width without sideways scrolling',
  async (t) => {
    await page.goto(server.url + '/#/Keys');
    await waitRow(page, 'a.txt');
    for (const [label, width] of [
      ['desktop', 1280],
      ['phone', 390],
    ] as const) {
      await page.setViewport({ width, height: 844 });
      const r = await page.evaluate(audit);
      t.same(r.unnamed, [], `${label}: every control has a name`);
      t.same(r.lowContrast, [], `${label}: text contrast at least 4.5:1 (3:1 large)`);
      t.ok(r.overflow <= 0, `${label}: no sideways scrolling (${r.overflow} px)`);
      // A panel open too: search results.
      await page.$eval('#search-q', (i: any) => (i.value = 'txt'));
      await page.$eval('#search-form', (f: any) => f.requestSubmit());
      await page.waitForSelector('#panel:not([hidden]) ul[aria-label="Search results"]', WAIT);
      const p = await page.evaluate(audit);
      t.same([p.unnamed, p.lowContrast], [[], []], `${label}: the panel too`);
      t.ok(p.overflow <= 0, `${label}: the panel fits (${p.overflow} px)`);
      await page.$eval('#panel-close', (b: any) => b.click());
    }
    // The audit sees what it is for: a grey text on white, and a button without a name.
    await page.evaluate(() => {
      const p = document.createElement('p');
      p.textContent = 'faint';
      p.style.color = '#aaaaaa';
      const b = document.createElement('button');
      document.getElementById('files-view').append(p, b);
    });
    const seen = await page.evaluate(audit);
    t.match(seen.lowContrast, [/^P#\. "faint" 2\.3/], 'the audit finds low contrast (self-check)');
    t.same(seen.unnamed, ['BUTTON#'], 'and an unnamed control (self-check)');
    await page.evaluate(() => {
      const v = document.getElementById('files-view');
      v.lastElementChild.remove();
      v.lastElementChild.remove();
    });
    await page.setViewport({ width: 1280, height: 800 });
    await page.focus('#rows tr');
    await page.keyboard.press('Tab');
    const ring = await page.evaluate(() => {
      const s = getComputedStyle(document.activeElement);
      return [document.activeElement.tagName, s.outlineStyle, parseFloat(s.outlineWidth)];
    });
    t.not(ring[1], 'none', `the focused ${ring[0]} shows an outline`);
    t.ok((ring[2] as number) >= 2, 'at least 2 px');
    t.same(pageErrors, [], 'no script errors in the page');
    t.same(
      [...origins].filter((o) => o !== server.url),
      [],
      'every request went to `loft serve` (no CDN)',
    );
  },
);
