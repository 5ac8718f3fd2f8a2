/**
 * Steps: how one piece of metadata logic runs on a synchronous engine (better-sqlite3) and on an
 * asynchronous one (PostgreSQL) without being written twice.
 *
 * The domain operations (src/metastore/engine/*) are generator functions over a MetaTx. A MetaTx
 * primitive of an asynchronous engine *yields* the Promise of its query and is resumed with the
 * result; one of a synchronous engine returns at once and never yields. So the same operation is
 *
 * - run to completion by `runSync` inside a better-sqlite3 transaction: it never yields, so the
 *   transaction never spans an await (STYLE.md habit 3), and
 * - driven by `runAsync` inside a PostgreSQL transaction, one query at a time.
 *
 * A primitive is called with `yield*` (`const node = yield* tx.nodeById(id, ns)`), which types
 * its result. Operations keep all their state in locals, never in the store object, so concurrent
 * asynchronous operations cannot see each other's.
 */

/** A piece of metadata logic returning T; yields only the pending queries of an async engine. */
export type Step<T> = Generator<Promise<unknown>, T, unknown>;

/** Runs a step of a synchronous engine, whose primitives never yield. */
export function runSync<T>(step: Step<T>): T {
  const r = step.next();
  if (!r.done) throw new Error('a synchronous metadata engine yielded a pending query');
  return r.value;
}

/** Runs a step of an asynchronous engine: awaits each query it yields and resumes it with the result. */
export async function runAsync<T>(step: Step<T>): Promise<T> {
  let r = step.next();
  while (!r.done) {
    let value: unknown;
    try {
      value = await r.value;
    } catch (err) {
      r = step.throw(err);
      continue;
    }
    r = step.next(value);
  }
  return r.value;
}
