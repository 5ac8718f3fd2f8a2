import t from 'tap';
import { fileRange } from '../../../../src/server/http/web-routes.js';
import { checkNewPassword, hashPassword, verifyPassword } from '../../../../src/server/web/passwords.js';
import { checkCsrf, csrfToken, sessionCookie, sessionToken } from '../../../../src/server/web/session.js';
import { newToken } from '../../../../src/server/tokens.js';

t.test('passwords: scrypt hash verifies; a wrong password, a bad hash and no hash do not', async (t) => {
  const h = await hashPassword('correct horse');
  t.match(h, /^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
  t.not(await hashPassword('correct horse'), h, 'salted');
  t.equal(await verifyPassword('correct horse', h), true);
  t.equal(await verifyPassword('correct horsE', h), false);
  t.equal(await verifyPassword('correct horse', null), false, 'no password set: never signs in');
  t.equal(await verifyPassword('x', 'garbage'), false);
  t.equal(await verifyPassword('x'.repeat(2000), h), false, 'an over-long password is refused');
  t.throws(() => checkNewPassword('short'), { code: 'BAD_REQUEST' });
});

t.test('session cookie and CSRF token', async (t) => {
  const tok = newToken();
  t.equal(sessionToken(`a=b; loft_session=${tok}; c=d`), tok);
  t.equal(sessionToken('loft_session=not-a-token'), null);
  t.equal(sessionToken(undefined), null);
  const c = sessionCookie(tok, false, 3600_000);
  t.match(c, /HttpOnly/);
  t.match(c, /SameSite=Strict/);
  t.notMatch(c, /Secure/);
  t.match(sessionCookie(tok, true, 1000), /; Secure$/);
  checkCsrf(tok, csrfToken(tok));
  t.throws(() => checkCsrf(tok, undefined), { code: 'FORBIDDEN' });
  t.throws(() => checkCsrf(tok, csrfToken(newToken())), { code: 'FORBIDDEN' }, "another session's token");
});

t.test('file ranges', async (t) => {
  t.equal(fileRange(undefined, 100), null);
  t.same(fileRange('bytes=0-9', 100), [0, 10]);
  t.same(fileRange('bytes=90-', 100), [90, 100]);
  t.same(fileRange('bytes=90-500', 100), [90, 100]);
  t.same(fileRange('bytes=-10', 100), [90, 100]);
  t.same(fileRange('bytes=-500', 100), [0, 100]);
  t.equal(fileRange('bytes=100-', 100), 'unsatisfiable');
  t.equal(fileRange('bytes=-0', 100), 'unsatisfiable');
  t.equal(fileRange('bytes=0-1,5-6', 100), null, 'several ranges: the whole file');
  t.equal(fileRange('bytes=9-3', 100), null);
  t.equal(fileRange('bytes=0-0', 0), 'unsatisfiable');
});
