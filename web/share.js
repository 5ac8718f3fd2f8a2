// Share links from the page (issue 16): make one for the selected file or folder (or the folder
// shown), with an optional expiry and password, copy its URL; list yours and revoke them. All
// through the same /v1/links routes as `loft link`; the server keeps only a hash of a link's
// secret, so its URL is shown once, when it is made.

import { api } from './api.js';

/** Expiry choices, in days (0: never). */
const EXPIRY_DAYS = [0, 1, 7, 30, 365];
const DAY_MS = 86_400_000;

/**
 * ui: { el, showPanel, say, fail, formatDate } from app.js.
 * target: { path, name, kind } of what to share.
 */
export function shareDialog(ui, target) {
  const { el } = ui;
  const expiry = el('select', { id: 'share-expiry' });
  for (const d of EXPIRY_DAYS)
    expiry.append(
      el('option', { value: String(d), text: d === 0 ? 'Never' : d === 1 ? '1 day' : `${d} days` }),
    );
  const password = el('input', {
    id: 'share-password',
    type: 'password',
    autocomplete: 'new-password',
    maxlength: '256',
  });
  const result = el('div', { id: 'share-result' });
  const form = el(
    'form',
    { id: 'share-form', class: 'stack' },
    el('label', { for: 'share-expiry', text: 'Expires after' }),
    expiry,
    el('label', { for: 'share-password', text: 'Password (optional)' }),
    password,
    el('button', { type: 'submit', text: 'Create link' }),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const days = Number(expiry.value);
      const body = { path: target.path };
      if (days > 0) body.expiresInMs = days * DAY_MS;
      if (password.value) body.password = password.value;
      const made = await api('POST', '/v1/links', body);
      password.value = '';
      const url = new URL(made.path, location.origin).href;
      const out = el('input', { id: 'share-url', readonly: '', value: url, 'aria-label': 'Link URL' });
      const copy = el('button', { type: 'button', id: 'share-copy', text: 'Copy' });
      copy.addEventListener('click', () =>
        copyText(out).then((ok) => ui.say(ok ? 'Link copied' : 'Select the link and copy it')),
      );
      result.replaceChildren(
        el('p', {
          text:
            `Anyone with this link can ${target.kind === 'dir' ? 'browse and download the folder' : 'download the file'}` +
            (made.expiresAt ? ` until ${ui.formatDate(made.expiresAt)}` : '') +
            (body.password ? ' with the password' : '') +
            '. It is shown only now.',
        }),
        el('div', { class: 'row' }, out, copy),
      );
      out.focus();
      out.select();
    } catch (err) {
      ui.fail(err);
    }
  });
  ui.showPanel(`Share ${target.name}`, form, result);
}

/** Copies the input's text; false (the text selected instead) without a clipboard. */
export async function copyText(input) {
  try {
    await navigator.clipboard.writeText(input.value);
    return true;
  } catch {
    // No clipboard API (not a secure context) or no permission: the text is selected instead.
    input.focus();
    input.select();
    return false;
  }
}

export async function linksPanel(ui) {
  const { el } = ui;
  const { links } = await api('GET', '/v1/links');
  const ul = el('ul', { 'aria-label': 'Your share links', id: 'links-list' });
  for (const l of [...links].reverse()) {
    const state = l.live
      ? l.expiresAt
        ? `expires ${ui.formatDate(l.expiresAt)}`
        : 'no expiry'
      : l.revokedAt
        ? 'revoked'
        : l.path === null
          ? 'its file is deleted'
          : 'expired';
    const li = el(
      'li',
      { 'data-link': String(l.id), 'data-live': l.live ? '1' : '0' },
      el('span', {
        text: `${l.path ?? '(deleted)'} · made ${ui.formatDate(l.createdAt)} · ${state}${l.hasPassword ? ' · password' : ''}`,
      }),
    );
    if (l.live) {
      li.append(
        el('button', {
          type: 'button',
          text: 'Revoke',
          'aria-label': `Revoke the link to ${l.path}`,
          onclick: async () => {
            try {
              await api('POST', '/v1/links/revoke', { id: l.id });
              ui.say(`Link to ${l.path} revoked`);
              await linksPanel(ui);
            } catch (err) {
              ui.fail(err);
            }
          },
        }),
      );
    }
    ul.append(li);
  }
  const note = links.length ? [] : [el('p', { text: 'You have no share links.' })];
  ui.showPanel('Share links', ...note, ul);
}
