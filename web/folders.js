// Shared folders in the page (issue 16 item 5; the model is issue 13's, docs/SHARING.md): share a
// folder of your tree with a user as viewer or editor, see and remove its members, leave a folder
// shared with you, copy an invitation. Through the same /v1/shares routes as `loft share`. The
// list of your shared folders (`shares`) also tells the page which folders are read-only for you.

import { api } from './api.js';

/** Your shared folders, as GET /v1/shares answers: [{ ns, path, role, owner, members }]. */
let shares = [];

export async function loadShares() {
  shares = (await api('GET', '/v1/shares')).shares;
  return shares;
}

/** The shared folder holding `path` of your tree (the folder itself or one above it), or null. */
export function shareAt(path) {
  for (const s of shares) if (path === s.path || path.startsWith(s.path + '/')) return s;
  return null;
}

/** Why `path` cannot be changed by you, or null when it can. */
export function readOnlyReason(path) {
  const s = shareAt(path);
  if (!s || s.role !== 'viewer') return null;
  return `${s.path} is shared with you by ${s.owner} as a viewer: you can open and download, not change it`;
}

const ROLE_TEXT = { owner: 'owner', editor: 'can edit', viewer: 'can view' };

/**
 * The sharing panel of the folder at `path` (named `name`): its members, and for its owner a
 * form to add one and a Remove button on each; for a member, Leave. A folder not shared yet
 * shows the form alone (sharing it makes it a shared folder).
 * ui: { el, showPanel, say, fail, copyText, reload } from app.js.
 */
export async function folderSharePanel(ui, path, name) {
  const { el } = ui;
  await loadShares().catch(() => undefined);
  const s = shares.find((x) => x.path === path) ?? null;
  const inside = s ? null : shareAt(path);
  if (inside) {
    return ui.showPanel(
      `Share ${name}`,
      el('p', {
        id: 'folder-share-note',
        text: `${name} is inside the shared folder ${inside.path}: share that folder instead (shared folders do not nest).`,
      }),
    );
  }
  const body = [];
  const owner = !s || s.role === 'owner';
  if (s) {
    body.push(
      el('p', {
        id: 'folder-share-state',
        text:
          s.role === 'owner'
            ? `You share ${name} with ${s.members.length - 1} ${s.members.length === 2 ? 'person' : 'people'}.`
            : `${s.owner} shares ${name} with you; you ${ROLE_TEXT[s.role]}.`,
      }),
    );
    const ul = el('ul', { id: 'folder-members', 'aria-label': `Members of ${name}` });
    for (const m of s.members) {
      const li = el(
        'li',
        { 'data-user': m.user, 'data-role': m.role },
        el('span', { text: `${m.user} · ${ROLE_TEXT[m.role] ?? m.role}` }),
      );
      if (s.role === 'owner' && m.role !== 'owner') {
        li.append(
          el('button', {
            type: 'button',
            text: 'Remove',
            'aria-label': `Remove ${m.user} from ${name}`,
            onclick: async () => {
              try {
                await api('POST', '/v1/shares/remove', { path, with: m.user });
                ui.say(`${m.user} removed from ${name}`);
                await folderSharePanel(ui, path, name);
                await ui.reload();
              } catch (err) {
                ui.fail(err);
              }
            },
          }),
        );
      }
      ul.append(li);
    }
    body.push(ul);
  }
  if (owner) body.push(addForm(ui, path, name, s));
  else {
    body.push(
      el('button', {
        type: 'button',
        id: 'folder-leave',
        text: `Leave ${name}`,
        onclick: async () => {
          try {
            await api('POST', '/v1/shares/leave', { path });
            ui.say(`You left ${name}; it is no longer in your files`);
            await ui.closePanel();
            await ui.reload();
          } catch (err) {
            ui.fail(err);
          }
        },
      }),
    );
  }
  ui.showPanel(`Share ${name}`, ...body);
}

function addForm(ui, path, name, s) {
  const { el } = ui;
  const user = el('input', {
    id: 'folder-share-user',
    autocomplete: 'off',
    required: '',
    maxlength: '64',
    autocapitalize: 'none',
    spellcheck: 'false',
  });
  const role = el(
    'select',
    { id: 'folder-share-role' },
    el('option', { value: 'editor', text: 'Can edit' }),
    el('option', { value: 'viewer', text: 'Can view' }),
  );
  const result = el('div', { id: 'folder-share-result' });
  const form = el(
    'form',
    { id: 'folder-share-form', class: 'stack' },
    el('h3', { text: s ? 'Add someone' : `Share ${name} with someone` }),
    el('label', { for: 'folder-share-user', text: 'User name' }),
    user,
    el('label', { for: 'folder-share-role', text: 'They' }),
    role,
    el('button', { type: 'submit', text: 'Share folder' }),
    result,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const who = user.value.trim();
    if (!who) return;
    try {
      await api('POST', '/v1/shares', { path, with: who, role: role.value });
      await folderSharePanel(ui, path, name);
      ui.say(`${name} shared with ${who}`);
      // An invitation to send: where to sign in and what they will find.
      const text = `I shared the folder "${name}" with you on Loft (you ${ROLE_TEXT[role.value]}). Sign in at ${location.origin}/ — it is in your files.`;
      const out = el('textarea', {
        id: 'folder-invite',
        readonly: '',
        rows: '3',
        'aria-label': 'Invitation',
      });
      out.value = text;
      const copy = el('button', { type: 'button', id: 'folder-invite-copy', text: 'Copy invitation' });
      copy.addEventListener('click', () =>
        ui.copyText(out).then((ok) => ui.say(ok ? 'Invitation copied' : 'Select the text and copy it')),
      );
      document
        .getElementById('folder-share-result')
        ?.replaceChildren(el('p', { text: `${who} now finds ${name} in their files.` }), out, copy);
      await ui.reload();
    } catch (err) {
      ui.fail(err);
      user.focus();
    }
  });
  return form;
}

/** The panel of every shared folder you are in: open one, or manage it. */
export async function sharedFoldersPanel(ui) {
  const { el } = ui;
  await loadShares();
  const ul = el('ul', { id: 'shared-list', 'aria-label': 'Your shared folders' });
  for (const s of shares) {
    const name = s.path.slice(s.path.lastIndexOf('/') + 1);
    const others = s.members.filter((m) => m.role !== 'owner').map((m) => m.user);
    const open = el('a', { href: ui.hashOf(s.path), text: s.path });
    open.addEventListener('click', (ev) => {
      ev.preventDefault();
      ui.closePanel();
      ui.go(s.path);
    });
    ul.append(
      el(
        'li',
        { 'data-path': s.path, 'data-role': s.role },
        open,
        el('span', {
          text:
            s.role === 'owner'
              ? ` · you share it with ${others.join(', ') || 'nobody'}`
              : ` · from ${s.owner}, you ${ROLE_TEXT[s.role]}`,
        }),
        el('button', {
          type: 'button',
          text: 'Manage',
          'aria-label': `Manage ${s.path}`,
          onclick: () => folderSharePanel(ui, s.path, name).catch(ui.fail),
        }),
      ),
    );
  }
  const note = shares.length
    ? []
    : [el('p', { text: 'No shared folders. Select a folder and choose Share folder to share one.' })];
  ui.showPanel('Shared folders', ...note, ul);
}
