/**
 * Names of conflicted copies: `name (conflicted copy from WHO YYYY-MM-DD HHMMSS).ext`, the
 * extension kept last (a folder keeps its whole name as the stem).
 *
 * WHO is this device's name (`laptop`) for a copy only this user sees: their home. In a shared
 * folder, where other users see the copy, and for what a user removed from a shared folder keeps
 * (issue 13 item 1), it names the user too: `alice on laptop` (`conflictAuthor`).
 */

/** `name (conflicted copy from WHO YYYY-MM-DD HHMMSS).ext`; `n` > 1 adds ` (n)` (a name taken). */
export function conflictName(name: string, who: string, at: Date, n = 1, dir = false): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${at.getFullYear()}-${p(at.getMonth() + 1)}-${p(at.getDate())} ${p(at.getHours())}${p(at.getMinutes())}${p(at.getSeconds())}`;
  const dot = dir ? -1 : name.lastIndexOf('.');
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
  return `${stem} (conflicted copy from ${who} ${stamp})${n > 1 ? ` (${n})` : ''}${ext}`;
}

/** WHO of a conflicted copy others may see: `user on device`. */
export function conflictAuthor(user: string, device: string): string {
  return `${user} on ${device}`;
}
