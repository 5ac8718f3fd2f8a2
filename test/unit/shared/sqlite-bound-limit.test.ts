/**
 * `LIMIT ?` makes SQLite prepare a statement again at every run (see src/shared/lazy-statements.ts);
 * the stores write `LIMIT CAST(? AS INTEGER)`. This keeps the bare form out of `src` and checks
 * that the cast form limits as `LIMIT ?` does, a negative limit included (no limit).
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { REPO_ROOT } from '../../helpers/server-process.js';

const root = path.join(REPO_ROOT, 'src');

function* sources(dir: string): Generator<string> {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* sources(p);
    else if (e.name.endsWith('.ts')) yield p;
  }
}

t.test('no SQLite statement in src binds LIMIT or OFFSET bare', async (t) => {
  const found: string[] = [];
  let files = 0;
  for (const file of sources(root)) {
    files++;
    const text = fs.readFileSync(file, 'utf8');
    for (const [i, line] of text.split('\n').entries())
      if (/\b(LIMIT|OFFSET)\s+\?(?!\?)/.test(line) && !/^\s*(\*|\/\/)/.test(line)) found.push(`${path.relative(root, file)}:${i + 1}: ${line.trim()}`);
  }
  t.ok(files > 100, `read the sources (${files} files)`);
  t.same(found, [], 'write LIMIT CAST(? AS INTEGER)');
});

t.test('LIMIT CAST(? AS INTEGER) limits as LIMIT ? does', async (t) => {
  const db = new Database(':memory:');
  db.exec('CREATE TABLE x (n INTEGER PRIMARY KEY)');
  const add = db.prepare('INSERT INTO x VALUES (?)');
  for (let i = 1; i <= 10; i++) add.run(i);
  const bare = db.prepare('SELECT n FROM x WHERE n > ? ORDER BY n LIMIT ?').pluck();
  const cast = db.prepare('SELECT n FROM x WHERE n > ? ORDER BY n LIMIT CAST(? AS INTEGER)').pluck();
  for (const [after, limit] of [[0, 3], [8, 5], [0, 0], [2, -1], [10, 4]] as const)
    t.same(cast.all(after, limit), bare.all(after, limit), `after ${after}, limit ${limit}`);
  db.close();
});
