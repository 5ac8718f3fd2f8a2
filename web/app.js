// Loft's web page: sign-in, browse, preview, download, upload with dedup, manage, history,
// deleted files, search, and live updates from the change journal. Plain ES modules, no
// framework and no bundler: every file is served by `loft serve` from web/.

import { api, ApiError, fileUrl, q, setCsrf } from './api.js';
import { folderSharePanel, loadShares, readOnlyReason, sharedFoldersPanel } from './folders.js';
import { copyText, linksPanel, shareDialog } from './share.js';
import { uploadFile } from './upload.js';

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
};

/** Rows rendered at once; the rest follow frame by frame, so a 10,000-entry folder never freezes. */
const FIRST_ROWS = 100;
const ROWS_PER_FRAME = 2000;
const FRAME_BUDGET_MS = 8;
const CONFLICT_RE = /\(conflicted copy /;
const TEXT_PREVIEW_BYTES = 256 * 1024;

const state = {
  session: null,
  path: '/',
  entries: [],
  sort: { key: 'name', dir: 1 },
  selected: null,
  live: null,
  renderToken: 0,
  nav: 0,
  /** The folder of the newest navigation, shown or still loading: what a live reload reloads. */
  target: '/',
};

// ---------- formatting

function formatSize(n) {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}
const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const formatDate = (ms) => dateFmt.format(new Date(ms));
const join = (dir, name) => (dir === '/' ? `/${name}` : `${dir}/${name}`);
const parentOf = (p) => p.slice(0, p.lastIndexOf('/')) || '/';

let statusTimer = null;
function say(text, { error = false } = {}) {
  const s = $('status');
  s.textContent = error ? `Error: ${text}` : text;
  clearTimeout(statusTimer);
  statusTimer = setTimeout(() => (s.textContent = ''), error ? 8000 : 4000);
}
function fail(err) {
  if (err instanceof ApiError && err.status === 401) return showSignin('Your session ended; sign in again.');
  // The server refuses a viewer's change; the page says why in the words of the folder.
  const ro = err instanceof ApiError && err.code === 'FORBIDDEN' ? readOnlyReason(state.target) : null;
  say(ro ?? (err.message || String(err)), { error: true });
}

/** Refuses a change in a folder that is read-only for you (a viewer's shared folder), with why. */
function writable() {
  const ro = readOnlyReason(state.path);
  if (ro) say(ro, { error: true });
  return !ro;
}

// ---------- sign-in

function showSignin(message = '') {
  stopLive();
  state.session = null;
  $('files-view').hidden = true;
  $('panel').hidden = true;
  $('search-form').hidden = true;
  $('who').hidden = true;
  $('signin-view').hidden = false;
  $('signin-error').textContent = message;
  $('signin-user').focus();
}

async function signedIn(session) {
  state.session = session;
  setCsrf(session.csrf);
  $('signin-view').hidden = true;
  $('files-view').hidden = false;
  $('search-form').hidden = false;
  $('who').hidden = false;
  $('who-name').textContent = session.user;
  startLive(session.cursor);
  await loadShares().catch(() => undefined);
  await go(pathFromHash(), { focus: true });
}

$('signin-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('signin-error').textContent = '';
  try {
    await api('POST', '/v1/web/signin', {
      user: $('signin-user').value,
      password: $('signin-password').value,
    });
    $('signin-password').value = '';
    await signedIn(await api('GET', '/v1/web/session'));
  } catch (err) {
    $('signin-error').textContent = err.message;
  }
});

$('signout').addEventListener('click', async () => {
  try {
    await api('POST', '/v1/web/signout');
  } finally {
    setCsrf(null);
    showSignin('Signed out.');
  }
});

// ---------- browsing

function pathFromHash() {
  const h = location.hash.slice(1);
  if (!h.startsWith('/')) return '/';
  try {
    return (
      h
        .split('/')
        .map((c) => decodeURIComponent(c))
        .join('/')
        .replace(/\/+$/, '') || '/'
    );
  } catch {
    return '/';
  }
}
const hashOf = (p) => '#' + p.split('/').map(encodeURIComponent).join('/');

window.addEventListener('hashchange', () => {
  if (state.session) go(pathFromHash(), { focus: true }).catch(fail);
});

/**
 * Shows the folder `path`. `reload` (a live update, the end of an upload): the folder already
 * shown or being opened, so the address is left alone. Had a reload's answer set the address, it
 * could land between the user's change of the address and its hashchange event, which then read
 * the reload's address and went back there (seen in the browser test under load).
 */
async function go(path, { focus = false, select = null, reload = false } = {}) {
  // The newest navigation wins: a slower answer to an older one (a live reload of the folder just
  // left) must not take the page back there.
  const token = ++state.nav;
  state.target = path;
  let entries;
  try {
    // The page's own listing: no block lists (the drive's /v1/list sends every file's), so a big
    // folder's answer is a fraction of the bytes.
    // The list of shared folders comes with it (a membership change arrives as a live reload).
    [{ entries }] = await Promise.all([
      api('GET', `/v1/web/list?path=${q(path)}`),
      loadShares().catch(() => undefined),
    ]);
    if (token !== state.nav) return;
  } catch (err) {
    if (token !== state.nav) return;
    if (err instanceof ApiError && (err.code === 'NOT_FOUND' || err.code === 'NOT_DIR')) {
      // A link or an address naming a file (or a folder gone since): say which, then show its folder.
      say(
        err.code === 'NOT_DIR' ? `${path} is a file, not a folder` : `${path} is not a folder here any more`,
        {
          error: true,
        },
      );
      if (path !== '/') return go(parentOf(path), { focus });
    }
    throw err;
  }
  const changedFolder = state.path !== path;
  state.path = path;
  state.entries = entries;
  if (changedFolder) state.selected = null;
  if (select !== null) state.selected = select;
  if (!reload && location.hash !== hashOf(path) && !(path === '/' && location.hash === ''))
    history.pushState(null, '', hashOf(path));
  renderCrumbs();
  $('zip-folder').href = `/v1/web/zip?path=${q(path)}`;
  renderList(focus);
}

function renderCrumbs() {
  const ol = $('crumbs');
  ol.replaceChildren();
  const parts = state.path === '/' ? [] : state.path.slice(1).split('/');
  const items = [{ name: 'Home', path: '/' }];
  parts.forEach((p, i) => items.push({ name: p, path: '/' + parts.slice(0, i + 1).join('/') }));
  items.forEach((it, i) => {
    const a = el('a', { href: hashOf(it.path), text: it.name });
    if (i === items.length - 1) a.setAttribute('aria-current', 'page');
    ol.append(el('li', {}, a));
  });
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

function order() {
  const { key, dir } = state.sort;
  return (a, b) => {
    if (a.kind !== b.kind) return a.kind === 'dir' ? -1 : 1; // folders first, always
    let c = 0;
    if (key === 'size') c = a.size - b.size;
    else if (key === 'mtime') c = a.mtime - b.mtime;
    if (c === 0) c = collator.compare(a.name, b.name);
    return c * dir;
  };
}

/**
 * The first `k` entries in `cmp` order, without sorting them all: about one comparison an entry
 * (the first screen of a 10,000-entry folder waits for 10,000 comparisons, not 130,000). Equal
 * entries keep their input order, as Array.prototype.sort (stable) keeps them.
 */
function firstSorted(entries, k, cmp) {
  const top = [];
  for (const e of entries) {
    if (top.length === k && cmp(e, top[k - 1]) >= 0) continue;
    let lo = 0;
    let hi = top.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cmp(e, top[mid]) < 0) hi = mid;
      else lo = mid + 1;
    }
    top.splice(lo, 0, e);
    if (top.length > k) top.pop();
  }
  return top;
}

// Rows are clones of one prepared row (a big folder makes thousands: cloning and filling is a
// few times cheaper than building each cell with createElement and setAttribute).
const ROW_TEMPLATE = (() => {
  const tr = el('tr', { tabindex: '-1', 'aria-selected': 'false' });
  tr.append(
    el('td', {}, el('span', { class: 'kind', 'aria-hidden': 'true' }), el('a')),
    el('td', { class: 'col-size' }),
    el('td', { class: 'col-date' }),
  );
  return tr;
})();

function rowOf(e) {
  const tr = ROW_TEMPLATE.cloneNode(true);
  tr.dataset.id = String(e.id);
  const [name, size, date] = tr.children;
  const [icon, link] = name.children;
  icon.className = `kind ${e.kind}`;
  link.textContent = e.name;
  if (e.kind === 'dir') link.href = hashOf(join(state.path, e.name));
  else {
    link.href = fileUrl(join(state.path, e.name), { download: true });
    link.dataset.preview = '1';
  }
  if (CONFLICT_RE.test(e.name)) name.append(el('span', { class: 'badge', text: 'conflict' }));
  if (e.shared) {
    tr.dataset.shared = e.shared.role;
    icon.className = 'kind dir shared';
    const mine = e.shared.role === 'owner';
    name.append(
      el('span', {
        class: 'badge shared',
        text: mine
          ? 'shared'
          : `shared by ${e.shared.owner}${e.shared.role === 'viewer' ? ' · view only' : ''}`,
      }),
    );
  }
  size.textContent = e.kind === 'dir' ? '—' : formatSize(e.size);
  date.textContent = formatDate(e.mtime);
  return tr;
}

function renderList(focus) {
  const tbody = $('rows');
  // A live update re-renders the list under the user's keyboard: keep the focus where it was.
  focus = focus || tbody.contains(document.activeElement);
  const entries = state.entries;
  const cmp = order();
  // The first screen from a partial sort; the whole list is sorted in the next frame.
  let list = null;
  const first = firstSorted(entries, FIRST_ROWS, cmp);
  const token = ++state.renderToken;
  tbody.replaceChildren();
  $('empty').hidden = entries.length > 0;
  for (const th of document.querySelectorAll('[data-sort]')) {
    const on = th.dataset.sort === state.sort.key;
    th.toggleAttribute('aria-sort', on);
    if (on) {
      th.setAttribute('aria-sort', state.sort.dir > 0 ? 'ascending' : 'descending');
      th.dataset.arrow = state.sort.dir > 0 ? ' ▲' : ' ▼';
    }
  }
  const frag = document.createDocumentFragment();
  for (const e of first) frag.append(rowOf(e));
  tbody.append(frag);
  let at = first.length;
  const more = () => {
    if (token === state.renderToken && list === null && at < entries.length) {
      list = [...entries].sort(cmp);
      return requestAnimationFrame(more);
    }
    if (token !== state.renderToken || at >= entries.length) {
      if (token === state.renderToken) tbody.dataset.complete = '1';
      return;
    }
    // Time-sliced: a few milliseconds of rows per frame, so input and painting keep going.
    const f = document.createDocumentFragment();
    const until = performance.now() + FRAME_BUDGET_MS;
    const stop = Math.min(list.length, at + ROWS_PER_FRAME);
    while (at < stop && performance.now() < until) f.append(rowOf(list[at++]));
    tbody.append(f);
    requestAnimationFrame(more);
  };
  delete tbody.dataset.complete;
  requestAnimationFrame(more);
  const sel = state.selected !== null ? tbody.querySelector(`tr[data-id="${state.selected}"]`) : null;
  if (sel) selectRow(sel, focus);
  else {
    state.selected = null;
    updateActions();
    if (focus && tbody.firstElementChild) tbody.firstElementChild.setAttribute('tabindex', '0');
  }
}

function entryById(id) {
  return state.entries.find((e) => e.id === id) ?? null;
}

function selectRow(tr, focus = true) {
  for (const r of $('rows').querySelectorAll('tr[aria-selected="true"], tr[tabindex="0"]')) {
    r.setAttribute('aria-selected', 'false');
    r.setAttribute('tabindex', '-1');
  }
  tr.setAttribute('aria-selected', 'true');
  tr.setAttribute('tabindex', '0');
  state.selected = Number(tr.dataset.id);
  updateActions();
  if (focus) tr.focus();
}

function updateActions() {
  const none = state.selected === null;
  const e = none ? null : entryById(state.selected);
  const ro = readOnlyReason(state.path);
  // A folder shared with you is left (Share folder…), not renamed, moved or deleted.
  const joined = e?.shared && e.shared.role !== 'owner';
  for (const id of ['act-rename', 'act-move', 'act-delete']) $(id).disabled = none || !!ro || joined;
  $('act-history').disabled = !e || e.kind !== 'file';
  $('new-folder').disabled = !!ro;
  for (const id of ['pick-files', 'pick-folder']) {
    $(id).disabled = !!ro;
    document.querySelector(`label[for="${id}"]`).setAttribute('aria-disabled', ro ? 'true' : 'false');
  }
  $('act-share-folder').disabled = !(e ? e.kind === 'dir' : state.path !== '/');
  const note = $('readonly-note');
  note.hidden = !ro;
  note.textContent = ro ? `Read-only: ${ro}.` : '';
}

function open(e) {
  if (e.kind === 'dir') return go(join(state.path, e.name), { focus: true });
  return preview(e);
}

$('rows').addEventListener('click', (ev) => {
  const tr = ev.target.closest('tr');
  if (!tr) return;
  selectRow(tr, false);
  const a = ev.target.closest('a[data-preview]');
  if (a) {
    ev.preventDefault();
    const e = entryById(Number(tr.dataset.id));
    if (e) preview(e).catch(fail);
  }
});

$('rows').addEventListener('focusin', (ev) => {
  const tr = ev.target.closest('tr');
  if (tr && tr.getAttribute('aria-selected') !== 'true') selectRow(tr, false);
});

$('rows').addEventListener('keydown', (ev) => {
  const tr = ev.target.closest('tr');
  if (!tr) return;
  const e = entryById(Number(tr.dataset.id));
  const move = (to) => {
    if (to) {
      ev.preventDefault();
      selectRow(to);
    }
  };
  switch (ev.key) {
    case 'ArrowDown':
      return move(tr.nextElementSibling);
    case 'ArrowUp':
      return move(tr.previousElementSibling);
    case 'Home':
      return move(tr.parentElement.firstElementChild);
    case 'End':
      return move(tr.parentElement.lastElementChild);
    case 'Enter':
      if (ev.target === tr && e) {
        ev.preventDefault();
        open(e).catch(fail);
      }
      return;
    case 'Backspace':
      ev.preventDefault();
      if (state.path !== '/') go(parentOf(state.path), { focus: true }).catch(fail);
      return;
    case 'F2':
      ev.preventDefault();
      return rename().catch(fail);
    case 'Delete':
      ev.preventDefault();
      return remove().catch(fail);
  }
});

for (const b of document.querySelectorAll('[data-sort]')) {
  b.addEventListener('click', () => {
    const key = b.dataset.sort;
    state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : key === 'name' ? 1 : -1 };
    renderList(false);
  });
}

// ---------- dialog

function ask({ label, value = '', text = '', ok = 'OK', input = true }) {
  const d = $('ask');
  $('ask-label').textContent = label;
  $('ask-input').hidden = !input;
  $('ask-input').value = value;
  $('ask-text').textContent = text;
  $('ask-ok').textContent = ok;
  d.returnValue = '';
  d.showModal();
  if (input) {
    $('ask-input').focus();
    const dot = value.lastIndexOf('.');
    $('ask-input').setSelectionRange(0, dot > 0 ? dot : value.length);
  } else $('ask-ok').focus();
  return new Promise((resolve) => {
    d.addEventListener(
      'close',
      () => resolve(d.returnValue === 'ok' ? (input ? $('ask-input').value : true) : null),
      { once: true },
    );
  });
}

// ---------- manage

function refocusList() {
  const tr = state.selected !== null ? $('rows').querySelector(`tr[data-id="${state.selected}"]`) : null;
  (tr ?? $('rows').firstElementChild)?.focus();
}

$('new-folder').addEventListener('click', async () => {
  if (!writable()) return;
  const name = await ask({ label: 'Name of the new folder', ok: 'Create' });
  if (!name) return;
  try {
    const r = await api('POST', '/v1/mkdir', { path: join(state.path, name) });
    await go(state.path, { select: r.node.id, focus: true });
    say(`Folder ${name} created`);
  } catch (err) {
    fail(err);
  }
});

async function rename() {
  const e = entryById(state.selected);
  if (!e || !writable()) return;
  const name = await ask({ label: `New name for ${e.name}`, value: e.name, ok: 'Rename' });
  if (!name || name === e.name) return refocusList();
  await api('POST', '/v1/move', { id: e.id, parentRev: e.rev, toPath: join(state.path, name) });
  await go(state.path, { select: e.id, focus: true });
  say(`Renamed to ${name}`);
}

async function move() {
  const e = entryById(state.selected);
  if (!e || !writable()) return;
  const dest = await ask({
    label: `Move ${e.name} to folder (a path like /Archive)`,
    value: state.path,
    ok: 'Move',
  });
  if (!dest) return refocusList();
  const dir = dest.startsWith('/') ? dest.replace(/\/+$/, '') || '/' : join(state.path, dest);
  await api('POST', '/v1/move', { id: e.id, parentRev: e.rev, toPath: join(dir, e.name) });
  await go(state.path, { focus: true });
  say(`Moved ${e.name} to ${dir}`);
}

async function remove() {
  const e = entryById(state.selected);
  if (!e || !writable()) return;
  const sure = await ask({
    label: `Delete ${e.name}?`,
    text:
      e.kind === 'dir' ? 'The folder and everything in it go to Deleted files.' : 'It goes to Deleted files.',
    ok: 'Delete',
    input: false,
  });
  if (!sure) return refocusList();
  await api('POST', '/v1/delete', { id: e.id, parentRev: e.rev, recursive: e.kind === 'dir' });
  state.selected = null;
  await go(state.path, { focus: true });
  say(`${e.name} deleted`);
}

$('act-rename').addEventListener('click', () => rename().catch(fail));
$('act-move').addEventListener('click', () => move().catch(fail));
$('act-delete').addEventListener('click', () => remove().catch(fail));
// Share the selected file or folder, or the folder shown when nothing is selected.
const ui = {
  el,
  showPanel: (...a) => showPanel(...a),
  closePanel: () => {
    $('panel').hidden = true;
    $('panel-body').replaceChildren();
  },
  say,
  fail,
  formatDate,
  copyText,
  hashOf,
  go: (p) => go(p, { focus: true }).catch(fail),
  reload: () => go(state.target, { reload: true }).catch(fail),
};
$('act-share').addEventListener('click', () => {
  const e = entryById(state.selected);
  const name = state.path === '/' ? 'Home' : state.path.slice(state.path.lastIndexOf('/') + 1);
  shareDialog(
    ui,
    e
      ? { path: join(state.path, e.name), name: e.name, kind: e.kind }
      : { path: state.path, name, kind: 'dir' },
  );
});
$('show-links').addEventListener('click', () => linksPanel(ui).catch(fail));
// Share the selected folder with people, or the folder shown when nothing is selected.
$('act-share-folder').addEventListener('click', () => {
  const e = entryById(state.selected);
  const path = e ? join(state.path, e.name) : state.path;
  if (path === '/' || (e && e.kind !== 'dir')) return say('Select a folder to share', { error: true });
  folderSharePanel(ui, path, path.slice(path.lastIndexOf('/') + 1)).catch(fail);
});
$('show-shared').addEventListener('click', () => sharedFoldersPanel(ui).catch(fail));
$('act-history').addEventListener('click', () => {
  const e = entryById(state.selected);
  if (e) history_(e).catch(fail);
});

// ---------- panel: preview, history, deleted, search

function showPanel(title, ...body) {
  $('panel-title').textContent = title;
  $('panel-body').replaceChildren(...body);
  $('panel').hidden = false;
  $('panel-close').focus();
}
$('panel-close').addEventListener('click', () => {
  $('panel').hidden = true;
  $('panel-body').replaceChildren();
  refocusList();
});
document.addEventListener('keydown', (ev) => {
  if (ev.key === 'Escape' && !$('panel').hidden && !$('ask').open) $('panel-close').click();
  // Backspace with nothing focused (the list was re-rendered under it, say) still goes up.
  if (ev.key === 'Backspace' && document.activeElement === document.body && state.session && !$('ask').open) {
    ev.preventDefault();
    if (state.target !== '/') go(parentOf(state.target), { focus: true }).catch(fail);
  }
});

async function preview(e) {
  const path = join(state.path, e.name);
  const url = fileUrl(path);
  const ext = e.name.toLowerCase().split('.').pop();
  const download = el('a', {
    href: fileUrl(path, { download: true }),
    download: e.name,
    class: 'button',
    text: 'Download',
  });
  const info = el('p', {
    text: `${formatSize(e.size)} · modified ${formatDate(e.mtime)} · revision ${e.rev}`,
  });
  let view;
  if (['png', 'jpg', 'jpeg', 'gif', 'webp'].includes(ext)) view = el('img', { src: url, alt: e.name });
  else if (ext === 'pdf') view = el('iframe', { src: url, title: e.name });
  else if (['mp4', 'webm'].includes(ext)) view = el('video', { src: url, controls: '' });
  else if (['mp3', 'ogg', 'wav'].includes(ext)) view = el('audio', { src: url, controls: '' });
  else if (
    [
      'txt',
      'md',
      'json',
      'csv',
      'log',
      'js',
      'ts',
      'py',
      'sh',
      'c',
      'h',
      'css',
      'html',
      'xml',
      'yml',
      'yaml',
      'toml',
      'ini',
    ].includes(ext) ||
    e.size === 0
  ) {
    const res = await fetch(url, { headers: { range: `bytes=0-${TEXT_PREVIEW_BYTES - 1}` } });
    const text = e.size === 0 ? '' : new TextDecoder().decode(await res.arrayBuffer());
    view = el('pre', {
      text: text + (e.size > TEXT_PREVIEW_BYTES ? '\n…' : ''),
      tabindex: '0',
      'aria-label': 'File content',
    });
  } else view = el('p', { text: 'No preview for this kind of file.' });
  const hist = el('button', { type: 'button', text: 'History', onclick: () => history_(e).catch(fail) });
  showPanel(e.name, info, el('p', {}, download, ' ', hist), view);
}

async function history_(e) {
  const path = join(state.path, e.name);
  const { revisions } = await api('GET', `/v1/revisions?id=${e.id}`);
  const ul = el('ul', { 'aria-label': 'Revisions, newest first' });
  for (const r of [...revisions].reverse()) {
    const li = el('li', { 'data-rev': String(r.rev) });
    const what = r.deleted ? 'deleted' : r.op + (r.restoredFrom ? ` (restored from ${r.restoredFrom})` : '');
    li.append(
      el('span', {
        text: `rev ${r.rev} · ${formatDate(r.time)} · ${r.kind === 'file' && !r.deleted ? formatSize(r.size) : ''} · ${what}${r.device ? ' · ' + r.device : ''}`,
      }),
    );
    if (r.blocks && !r.deleted) {
      li.append(
        el('a', {
          href: fileUrl(path, { rev: r.rev, download: true }),
          download: e.name,
          class: 'button',
          text: 'Download',
        }),
      );
      if (r.rev !== e.rev) {
        li.append(
          el('button', {
            type: 'button',
            text: `Restore rev ${r.rev}`,
            onclick: async () => {
              try {
                const current = await api('GET', `/v1/node?id=${e.id}`);
                await api('POST', '/v1/restore', { id: e.id, rev: r.rev, parentRev: current.rev });
                say(`Revision ${r.rev} of ${e.name} restored`);
                await go(state.path, { select: e.id });
                const fresh = entryById(e.id);
                if (fresh) await history_(fresh);
              } catch (err) {
                fail(err);
              }
            },
          }),
        );
      } else li.append(el('span', { class: 'badge', text: 'current' }));
    }
    ul.append(li);
  }
  showPanel(`History of ${e.name}`, ul);
}

$('show-deleted').addEventListener('click', () => deleted().catch(fail));
async function deleted() {
  const { entries, truncated } = await api('GET', `/v1/deleted?path=${q(state.path)}&limit=1000`);
  const ul = el('ul', { 'aria-label': 'Deleted files and folders' });
  for (const d of entries) {
    const li = el('li', { 'data-path': d.path });
    li.append(
      el('span', { text: `${d.path}${d.kind === 'dir' ? '/' : ''} · deleted ${formatDate(d.deletedAt)}` }),
    );
    if (d.lastRev !== null) {
      li.append(
        el('button', {
          type: 'button',
          text: 'Restore',
          'aria-label': `Restore ${d.path}`,
          onclick: async () => {
            try {
              await api('POST', '/v1/restore', { id: d.id, rev: d.lastRev });
              say(`${d.path} restored`);
              await go(state.path);
              await deleted();
            } catch (err) {
              fail(err);
            }
          },
        }),
      );
    }
    ul.append(li);
  }
  const note = entries.length ? [] : [el('p', { text: 'Nothing deleted below this folder.' })];
  if (truncated) note.push(el('p', { text: 'Showing the first 1000.' }));
  showPanel(`Deleted below ${state.path}`, ...note, ul);
}

/**
 * Files whose text holds `text` (3+ characters; the server's content index, issue 16): a heading,
 * a note while the index catches up, and a list of paths with the matching line.
 */
async function contentResults(text) {
  if ([...text].length < 3) return [];
  const { hits, truncated, behind } = await api('GET', `/v1/search/content?q=${q(text)}&limit=100`);
  const ul = el('ul', { 'aria-label': 'Content search results', class: 'content-hits' });
  for (const h of hits) {
    const where = parentOf(h.path);
    const a = el('a', { href: hashOf(where), text: h.path });
    a.addEventListener('click', (e2) => {
      e2.preventDefault();
      $('panel').hidden = true;
      go(where, { select: h.id, focus: true }).catch(fail);
    });
    ul.append(el('li', {}, a, el('span', { class: 'snippet', text: h.snippet })));
  }
  const out = [
    el('h3', { text: 'In file contents' }),
    el('p', { text: hits.length ? `${hits.length}${truncated ? '+' : ''} found` : 'No file holds it.' }),
  ];
  if (behind) out.push(el('p', { text: 'Recent changes are still being indexed.' }));
  return [...out, ul];
}

$('search-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const text = $('search-q').value.trim();
  if (!text) return;
  try {
    const { hits, truncated } = await api('GET', `/v1/search?q=${q(text)}&limit=100`);
    const ul = el('ul', { 'aria-label': 'Search results' });
    for (const h of hits) {
      const where = parentOf(h.path);
      const a = el('a', {
        href: hashOf(h.kind === 'dir' ? h.path : where),
        text: h.path + (h.kind === 'dir' ? '/' : ''),
      });
      a.addEventListener('click', (e2) => {
        e2.preventDefault();
        $('panel').hidden = true;
        go(h.kind === 'dir' ? h.path : where, { select: h.kind === 'dir' ? null : h.id, focus: true }).catch(
          fail,
        );
      });
      ul.append(el('li', {}, a, el('span', { text: h.kind === 'dir' ? 'folder' : formatSize(h.size) })));
    }
    const head = el('p', {
      text: hits.length ? `${hits.length}${truncated ? '+' : ''} found` : 'Nothing found.',
    });
    showPanel(`Search: ${text}`, head, ul, ...(await contentResults(text)));
  } catch (err) {
    fail(err);
  }
});

// ---------- uploads

const uploads = { queue: [], running: false, items: [] };

function enqueue(files) {
  if (!files.length || !writable()) return;
  $('uploads').hidden = false;
  for (const { file, path } of files) {
    const bar = el('progress', { max: '1', value: '0', 'aria-label': `Progress of ${path}` });
    const label = el('span', { text: `${path} — waiting` });
    const li = el('li', { 'data-path': path }, label, bar);
    $('upload-list').append(li);
    const item = { file, path, frac: 0, bar, label, li };
    uploads.items.push(item);
    uploads.queue.push(item);
  }
  overall();
  if (!uploads.running) runUploads();
}

function overall() {
  const total = uploads.items.reduce((n, it) => n + Math.max(it.file.size, 1), 0);
  const done = uploads.items.reduce((n, it) => n + it.frac * Math.max(it.file.size, 1), 0);
  $('upload-all').value = total ? done / total : 1;
}

async function runUploads() {
  uploads.running = true;
  while (uploads.queue.length) {
    const it = uploads.queue.shift();
    try {
      const r = await uploadFile(it.file, it.path, (p) => {
        if (p.phase === 'hashing') {
          it.frac = it.file.size ? (p.hashed / it.file.size) * 0.5 : 0;
          it.label.textContent = `${it.path} — checking`;
        } else if (p.phase === 'sending') {
          it.frac = 0.5 + (p.total ? (p.sent / p.total) * 0.5 : 0.5);
          it.label.textContent = `${it.path} — sending ${formatSize(p.sent)} of ${formatSize(p.total)}`;
        } else if (p.phase === 'retrying') {
          it.label.textContent = `${it.path} — connection lost, resuming`;
        } else if (p.phase === 'done') it.frac = 1;
        it.bar.value = it.frac;
        overall();
      });
      it.frac = 1;
      it.bar.value = 1;
      it.li.dataset.done = '1';
      it.li.dataset.sent = String(r.sentBytes);
      it.label.textContent = `${it.path} — done (${formatSize(r.sentBytes)} sent)`;
    } catch (err) {
      it.li.dataset.failed = '1';
      it.label.textContent = `${it.path} — failed: ${err.message}`;
      if (err instanceof ApiError && err.status === 401) fail(err);
    }
    overall();
  }
  uploads.running = false;
  if (state.session) go(state.target, { reload: true }).catch(fail);
}

$('uploads-hide').addEventListener('click', () => {
  $('uploads').hidden = true;
  // Finished uploads leave the list; those under way stay and show again with the next upload.
  for (const it of uploads.items.filter((i) => i.frac >= 1 || i.li.dataset.failed)) it.li.remove();
  uploads.items = uploads.items.filter((i) => i.li.isConnected);
  refocusList();
});

$('pick-files').addEventListener('change', (ev) => {
  enqueue([...ev.target.files].map((file) => ({ file, path: join(state.path, file.name) })));
  ev.target.value = '';
});
$('pick-folder').addEventListener('change', (ev) => {
  enqueue(
    [...ev.target.files].map((file) => ({
      file,
      path: join(state.path, file.webkitRelativePath || file.name),
    })),
  );
  ev.target.value = '';
});

const drop = $('drop');
drop.addEventListener('dragover', (ev) => {
  ev.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', async (ev) => {
  ev.preventDefault();
  drop.classList.remove('over');
  const base = state.path;
  const out = [];
  const walk = async (entry, dir) => {
    if (entry.isFile) {
      const file = await new Promise((res, rej) => entry.file(res, rej));
      out.push({ file, path: join(dir, file.name) });
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
        if (!batch.length) break;
        for (const c of batch) await walk(c, join(dir, entry.name));
      }
    }
  };
  const entries = [...ev.dataTransfer.items].map((i) => i.webkitGetAsEntry?.()).filter(Boolean);
  if (entries.length) for (const en of entries) await walk(en, base);
  else for (const file of ev.dataTransfer.files) out.push({ file, path: join(base, file.name) });
  enqueue(out);
});

// ---------- live updates: long-poll the change journal (GET /v1/changes/wait)

function stopLive() {
  state.live?.abort();
  state.live = null;
}

function startLive(cursor) {
  stopLive();
  const ctl = new AbortController();
  state.live = ctl;
  let reload = null;
  (async () => {
    while (!ctl.signal.aborted) {
      try {
        const page = await api('GET', `/v1/changes/wait?cursor=${q(cursor)}&timeout=25`, undefined, {
          signal: ctl.signal,
        });
        cursor = page.cursor;
        if (page.entries.length && !reload) {
          // One reload for a burst of changes.
          reload = setTimeout(() => {
            reload = null;
            if (state.session) go(state.target, { reload: true }).catch(fail);
          }, 150);
        }
      } catch (err) {
        if (ctl.signal.aborted) return;
        if (err instanceof ApiError && err.status === 401)
          return showSignin('Your session ended; sign in again.');
        if (err instanceof ApiError && err.code === 'BAD_CURSOR') {
          cursor = (await api('GET', '/v1/web/session').catch(() => ({ cursor }))).cursor;
        }
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  })();
}

// ---------- start

(async () => {
  try {
    await signedIn(await api('GET', '/v1/web/session'));
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) showSignin();
    else showSignin(err.message);
  }
})();
