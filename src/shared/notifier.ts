/**
 * Listeners called together when something happened. The composition root wires parts with it
 * when each needs to hear of the other (the Vfs queues changes the push loop sends, and the push
 * loop reads the Vfs): the event exists first, the listener subscribes once it exists.
 */
export class Notifier<A extends unknown[] = []> {
  readonly #listeners = new Set<(...args: A) => void>();

  /** Subscribes; returns the unsubscribe. */
  on(listener: (...args: A) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  fire(...args: A): void {
    for (const l of this.#listeners) l(...args);
  }
}
