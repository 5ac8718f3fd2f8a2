import t from 'tap';
import { bearerToken, hashToken, newToken, TOKEN_RE } from '../../../src/server/tokens.js';
t.test('tokens are random, well-formed and hashed', async (t) => {
    const a = newToken();
    const b = newToken();
    t.not(a, b);
    t.match(a, TOKEN_RE);
    t.match(hashToken(a), /^[0-9a-f]{64}$/);
    t.not(hashToken(a), hashToken(b));
});
t.test('bearerToken parses only well-formed headers', async (t) => {
    const tok = newToken();
    t.equal(bearerToken(`Bearer ${tok}`), tok);
    t.equal(bearerToken(`bearer ${tok}`), tok);
    for (const h of [
        undefined,
        '',
        'Bearer',
        `Basic ${tok}`,
        `Bearer ${tok} extra`,
        'Bearer loft_short',
        `Bearer ${tok.slice(0, -1)}!`,
    ]) {
        t.equal(bearerToken(h), null, String(h));
    }
});
//# sourceMappingURL=tokens.test.js.map