import t from 'tap';
import { splitPath, validateName } from '../../../src/shared/paths.js';
t.test('splitPath accepts plain absolute paths', async (t) => {
    t.same(splitPath('/'), []);
    t.same(splitPath('/a'), ['a']);
    t.same(splitPath('/a/b c/ünï.txt'), ['a', 'b c', 'ünï.txt']);
    t.same(splitPath('/' + 'x'.repeat(255)), ['x'.repeat(255)]);
});
t.test('splitPath rejects hostile paths with BAD_PATH', async (t) => {
    const bad = [
        '',
        'a/b',
        '//a',
        '/a//b',
        '/a/',
        '/./a',
        '/a/..',
        '/a/\0b',
        '/' + 'x'.repeat(256),
        '/' + 'é'.repeat(128),
        '/a/\uD800',
    ];
    bad.push('/' + Array.from({ length: 2100 }, () => 'ab').join('/'));
    for (const p of bad) {
        t.throws(() => splitPath(p), { code: 'BAD_PATH' }, JSON.stringify(p.slice(0, 40)));
    }
});
t.test('validateName', async (t) => {
    t.doesNotThrow(() => validateName('...'));
    t.throws(() => validateName('a/b'));
    t.throws(() => validateName('..'));
});
//# sourceMappingURL=paths.test.js.map