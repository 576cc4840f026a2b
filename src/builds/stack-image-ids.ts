import type { ContainerRuntime } from "../docker/container-runtime.js";
import type { Logger } from "../log.js";
import { stackImages, type StackImages } from "./build-inputs.js";

/**
 * The stack's image ids as a build's inputs need them, asked of one engine: every push asked the
 * engine twice (`docker inspect` of the build and run images), 2 ms and more of a push whose slug
 * is reused. The ids are kept only while the engine's image events are followed: any image change
 * on the engine, by any process (`slugforge setup` or `stack build` elsewhere, a `docker tag`, a
 * prune), drops them, and so does the event stream ending (kept again once it is followed again).
 * An id read while a change came in is not kept. A build never gets an id older than the engine's
 * last change it could have been told of; a push racing a stack rebuild gets the ids from just
 * before or just after it, as it would without keeping them.
 */
export interface StackImageIds {
  get(stack: string): Promise<StackImages>;
  /** Stops following the engine's events. */
  close(): void;
}

export function createStackImageIds(runtime: ContainerRuntime, log: Logger): StackImageIds {
  const known = new Map<string, StackImages>();
  /** Counts changes (and watches ended): an id read across one is not kept. */
  let generation = 0;
  let state: "off" | "starting" | "on" = "off";
  let watch: { close(): void } | undefined;
  let closed = false;

  const forget = (): void => {
    generation += 1;
    known.clear();
  };
  const follow = (): void => {
    if (closed || state !== "off" || !runtime.watchImages) return;
    state = "starting";
    runtime
      .watchImages({
        onChange: forget,
        onEnd: () => {
          forget();
          state = "off";
          watch = undefined;
        },
      })
      .then(
        (w) => {
          if (closed || state !== "starting") {
            w.close();
            return;
          }
          state = "on";
          watch = w;
        },
        (err: unknown) => {
          state = "off";
          log.debug({ err }, "cannot follow the engine's image events; the stack's image ids are asked for each build");
        },
      );
  };

  return {
    async get(stack) {
      follow();
      const kept = state === "on" ? known.get(stack) : undefined;
      if (kept) return kept;
      const asked = generation;
      const wasOn = state === "on";
      const ids = await stackImages(runtime, stack);
      if (wasOn && state === "on" && generation === asked) known.set(stack, ids);
      return ids;
    },
    close() {
      closed = true;
      forget();
      watch?.close();
      watch = undefined;
      state = "off";
    },
  };
}
