/**
 * Every FUSE request is answered exactly once: an async handler races a timeout, and whichever
 * comes second is dropped (a late result after ETIMEDOUT, a timer after the answer).
 */

/**
 * Runs `run` and answers with `reply(value)`; an error thrown by either (or a rejection) goes to
 * `fail`; after `ms` without an answer, `timedOut` answers instead.
 */
export function answerOnce<T>(
  ms: number,
  run: () => Promise<T>,
  reply: (value: T) => void,
  on: { fail: (err: unknown) => void; timedOut: () => void },
): void {
  let done = false;
  const timer = setTimeout(() => {
    if (done) return;
    done = true;
    on.timedOut();
  }, ms);
  const finish = (fn: () => void) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    try {
      fn();
    } catch (err) {
      on.fail(err);
    }
  };
  let promise: Promise<T>;
  try {
    promise = run();
  } catch (err) {
    finish(() => on.fail(err));
    return;
  }
  promise.then(
    (v) => finish(() => reply(v)),
    (err: unknown) => finish(() => on.fail(err)),
  );
}
