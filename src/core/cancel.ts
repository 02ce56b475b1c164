/**
 * Cancellation of a request whose client went away. The scheduler needs only this of a signal: an AbortSignal has
 * this shape (in-process callers may pass one), and frontends pass a CancelSource, which costs a few fields where an
 * AbortController per request cost ~7 % of the HTTP frontend's main-thread time (a CPU profile at 2,500 req/s).
 */
export interface CancelSignal {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** A CancelSignal and its trigger in one: listeners run once, on the first `abort()`. */
export class CancelSource implements CancelSignal {
  aborted = false;
  private listeners: Array<() => void> | undefined;

  /** Listeners run once whatever `options` say (abort happens once). */
  addEventListener(_type: 'abort', listener: () => void, _options?: { once?: boolean }): void {
    if (this.aborted) return;
    (this.listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const i = this.listeners?.indexOf(listener) ?? -1;
    if (i >= 0) this.listeners!.splice(i, 1);
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners) for (const l of listeners) l();
  }
}
