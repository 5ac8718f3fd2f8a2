/** Environment variables a test sets, put back as they were when it ends. */
import type { Test } from 'tap';

/** A setter of `name` for this test (undefined deletes it); the variable is restored at teardown. */
export function scopedEnv(t: Test, name: string): (value: string | undefined) => void {
  const was = process.env[name];
  const set = (value: string | undefined) => {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  };
  t.teardown(() => set(was));
  return set;
}
