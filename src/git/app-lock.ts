/**
 * One push per app at a time: an in-memory FIFO per app. The holder keeps the lock until its
 * receive-pack exits (ref update included); later pushes wait in order and learn their position.
 * Where several nodes share the repos, the holder of the node's own lock then takes the app's
 * shared lock (the store's), so one push per app runs across all of them.
 */
export type Release = () => void;

/** A lock every node sees (a PostgreSQL advisory lock); resolves once held, rejects with the signal's reason. */
export type SharedLock = (app: string, options: { signal?: AbortSignal; onWaiting?: () => void }) => Promise<Release>;

interface Waiter {
  readonly grant: (release: Release) => void;
}

export class AppLocks {
  /** Per app: the holder (first) and the waiters after it. */
  private readonly queues = new Map<string, Waiter[]>();

  constructor(private readonly shared?: SharedLock) {}

  /**
   * Resolves with a release function once the lock is ours. `onQueued(position)` is called when
   * we have to wait; position 1 means one push is ahead. An aborted signal leaves the queue and
   * rejects with the signal's reason.
   */
  acquire(app: string, options: { onQueued?: (position: number) => void; onWaitingElsewhere?: () => void; signal?: AbortSignal } = {}): Promise<Release> {
    const local = this.acquireHere(app, options);
    const shared = this.shared;
    if (!shared) return local;
    return local.then(async (releaseHere) => {
      try {
        const releaseShared = await shared(app, { signal: options.signal, onWaiting: options.onWaitingElsewhere });
        return () => {
          releaseShared();
          releaseHere();
        };
      } catch (err) {
        releaseHere();
        throw err;
      }
    });
  }

  private acquireHere(app: string, options: { onQueued?: (position: number) => void; signal?: AbortSignal }): Promise<Release> {
    const { onQueued, signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<Release>((resolve, reject) => {
      const queue = this.queues.get(app) ?? [];
      this.queues.set(app, queue);
      const onAbort = (): void => {
        const i = queue.indexOf(waiter);
        if (i > 0) queue.splice(i, 1);
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        grant: (release) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(release);
        },
      };
      queue.push(waiter);
      if (queue.length === 1) {
        waiter.grant(this.releaser(app, waiter));
        return;
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      onQueued?.(queue.length - 1);
    });
  }

  /** How many pushes hold or wait for the app's lock. */
  depth(app: string): number {
    return this.queues.get(app)?.length ?? 0;
  }

  private releaser(app: string, holder: Waiter): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const queue = this.queues.get(app);
      if (!queue || queue[0] !== holder) return;
      queue.shift();
      const next = queue[0];
      if (next) next.grant(this.releaser(app, next));
      else this.queues.delete(app);
    };
  }
}
