import PQueue from "p-queue";

export interface QueueWait {
  /** Builds of the same app ahead of this one. */
  readonly sameApp: boolean;
  readonly running: number;
  readonly waiting: number;
}

export interface BuildQueue {
  /**
   * Runs `task` when the app has no other build running and a global slot is free. Aborting
   * `signal` while still waiting rejects with the signal's reason; once started, the task owns
   * the signal (it has a container to clean up) and the slot is held until it returns.
   */
  run<T>(app: string, signal: AbortSignal, onWait: (wait: QueueWait) => void, task: () => Promise<T>): Promise<T>;
  readonly running: number;
  readonly waiting: number;
}

export function createBuildQueue(concurrency: number): BuildQueue {
  const queue = new PQueue({ concurrency });
  const appTails = new Map<string, Promise<void>>();

  const run = async <T>(app: string, signal: AbortSignal, onWait: (wait: QueueWait) => void, task: () => Promise<T>): Promise<T> => {
    const previous = appTails.get(app);
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = (previous ?? Promise.resolve()).then(() => mine);
    appTails.set(app, tail);
    try {
      if (previous) {
        onWait({ sameApp: true, running: queue.pending, waiting: queue.size });
        await untilAborted(previous, signal);
      }
      if (queue.pending >= concurrency) onWait({ sameApp: false, running: queue.pending, waiting: queue.size });
      let started = false;
      const queued = queue.add(
        async () => {
          if (signal.aborted) return undefined;
          started = true;
          return { value: await task() };
        },
        { throwOnTimeout: true },
      );
      const result = await untilAborted(queued, signal, () => started);
      if (!result) throw signal.reason;
      return result.value;
    } finally {
      release();
      if (appTails.get(app) === tail) appTails.delete(app);
    }
  };

  return {
    run,
    get running() {
      return queue.pending;
    },
    get waiting() {
      return queue.size;
    },
  };
}

/** Waits for `promise`, but rejects with the abort reason if `signal` fires while `stillWaiting()`. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal, hasStarted: () => boolean = () => false): Promise<T> {
  if (signal.aborted && !hasStarted()) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      if (!hasStarted()) reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
