import { SlugforgeError, isSlugforgeError } from "../errors.js";
import type { Logger } from "../log.js";
import type { ContainerRuntime } from "./container-runtime.js";

/*
 * The build engines (SLUGFORGE_BUILD_ENGINES): several Docker engines that builds are spread over.
 * The pool knows which engines answer (a health loop pings each one with a short timeout), how
 * many builds each runs (leases), and makes sure each has the images builds need (copied from an
 * engine that has them, `docker save` into `docker load` through the Engine API, never through a
 * registry). What a build prefers (the engine that holds its app's prepared container) is the
 * caller's business: acquire() takes it as a predicate.
 *
 * States: an engine is "down" until it has answered once, "loading" while it answers but the
 * images are being copied to it, "up" once it can take builds. A failed ping (or a build that
 * found it gone, confirmDown) makes it "down" at once: its running builds' lease signals abort
 * with ENGINE_DOWN, and new builds go elsewhere. The next ping it answers brings it back.
 */

export type EngineState = "up" | "loading" | "down";

export interface PoolEngine {
  /** The engine's URL as configured (unix:///var/run/docker.sock, tcp://host:2376). */
  readonly url: string;
  readonly runtime: ContainerRuntime;
  /** The first engine: release images, one-offs and release phases stay on it. */
  readonly primary: boolean;
}

export interface EngineStatus {
  readonly url: string;
  readonly primary: boolean;
  readonly state: EngineState;
  readonly running: number;
  /** When the engine last changed state (ISO 8601). */
  readonly since: string;
  /** Why it is down (or why copying images failed); undefined when there is nothing to tell. */
  readonly lastError: string | undefined;
}

/** An engine taken for one build: its signal aborts with ENGINE_DOWN when the engine goes down. */
export interface EngineLease {
  readonly engine: PoolEngine;
  readonly signal: AbortSignal;
  release(): void;
}

export interface EnginePoolOptions {
  readonly engines: readonly { readonly url: string; readonly runtime: ContainerRuntime }[];
  readonly log: Logger;
  /** Images every engine must have, as the primary has them (the stack's build and run images). */
  readonly images?: readonly string[];
  /** How often each engine is pinged; 0: never (a pool of one engine needs no health loop). */
  readonly checkMs?: number;
  /** How long a ping may take before the engine counts as down; default 2 s. */
  readonly pingTimeoutMs?: number;
  /** How long confirmDown keeps asking an engine that still answers; default 5 s. */
  readonly confirmMs?: number;
}

export interface EnginePool {
  readonly engines: readonly PoolEngine[];
  readonly primary: PoolEngine;
  /**
   * The engine for a build: among those up, the one with the fewest running builds; where another
   * that `prefer`s is within one build of it, that one. None up: the primary (the build then
   * meets whatever the engine says, as with a single engine).
   */
  acquire(prefer?: (engine: PoolEngine) => boolean): EngineLease;
  status(): EngineStatus[];
  /** Pings every engine now; resolves when each has answered or not (image copies started go on: settled()). */
  check(): Promise<void>;
  /** Resolves once the image copies under way have ended. */
  settled(): Promise<void>;
  /**
   * After a build failed on `engine`: whether the engine is gone (a ping fails within confirmMs).
   * Then it is marked down, which aborts its other builds' leases too.
   */
  confirmDown(engine: PoolEngine): Promise<boolean>;
  /** Checks every engine once, then starts the health loop (when checkMs > 0 and there are several engines). */
  start(): Promise<void>;
  close(): void;
}

interface Slot {
  readonly engine: PoolEngine;
  state: EngineState;
  running: number;
  since: Date;
  lastError: string | undefined;
  alive: AbortController;
  /** The image copy under way, so that two checks never copy at once. */
  loading: Promise<void> | undefined;
  /** How many times it was found down: a check's answer from before the last time is stale. */
  downs: number;
}

export function createEnginePool(options: EnginePoolOptions): EnginePool {
  if (options.engines.length === 0) throw new Error("an engine pool needs at least one engine");
  const { log } = options;
  const pingTimeoutMs = options.pingTimeoutMs ?? 2000;
  const confirmMs = options.confirmMs ?? 5000;
  const images = options.images ?? [];
  const slots: Slot[] = options.engines.map((e, i) => ({
    engine: { url: e.url, runtime: e.runtime, primary: i === 0 },
    // A pool of one is taken as up: nothing checks it, and it behaves as the single engine always did.
    state: options.engines.length === 1 ? "up" : "down",
    running: 0,
    since: new Date(),
    lastError: undefined,
    alive: new AbortController(),
    loading: undefined,
    downs: 0,
  }));
  const slotOf = (engine: PoolEngine): Slot => {
    const slot = slots.find((s) => s.engine === engine);
    if (!slot) throw new Error(`${engine.url} is not an engine of this pool`);
    return slot;
  };
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const setState = (slot: Slot, state: EngineState, why?: string): void => {
    if (why !== undefined) slot.lastError = why;
    if (slot.state === state) return;
    const was = slot.state;
    slot.state = state;
    slot.since = new Date();
    if (state === "down") {
      slot.downs++;
      log.warn({ engine: slot.engine.url, was, why, running: slot.running }, "build engine is down: its running builds fail, new builds go elsewhere");
      slot.alive.abort(engineDown(slot.engine.url, why));
      slot.alive = new AbortController();
    } else {
      log.info({ engine: slot.engine.url, was, state }, state === "up" ? "build engine is up" : "build engine answers; making sure it has the stack images");
      if (state === "up") slot.lastError = undefined;
    }
  };

  const ping = async (slot: Slot): Promise<string | undefined> => {
    let timeout: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        slot.engine.runtime.ping(),
        new Promise<never>((_, reject) => {
          timeout = setTimeout(() => reject(new Error(`no answer within ${pingTimeoutMs} ms`)), pingTimeoutMs);
        }),
      ]);
      return undefined;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    } finally {
      clearTimeout(timeout);
    }
  };

  const checkOne = async (slot: Slot): Promise<void> => {
    const downs = slot.downs;
    const failure = await ping(slot);
    if (closed) return;
    if (failure !== undefined) return setState(slot, "down", failure);
    // Found down while this ping was under way (a stopping engine answers a moment longer): its
    // answer is from before, and must not bring the engine back; the next check asks again.
    if (slot.downs !== downs) return;
    if (slot.loading) return;
    // Back (or there for the first time); or up, but the primary's stack images were made anew
    // (`slugforge setup`) since they were copied: builds wait for the new ones.
    if (slot.state === "down" || (slot.state === "up" && (await staleImages(slot)))) load(slot);
  };

  /** Copies the images to the engine behind the check (a build image is hundreds of MB); settled() waits for it. */
  const load = (slot: Slot): void => {
    setState(slot, "loading");
    slot.loading = ensureImages(slot)
      .then(
        () => {
          if (slot.state === "loading") setState(slot, "up");
        },
        (err: unknown) => {
          const why = `copying the stack images failed: ${err instanceof Error ? err.message : String(err)}`;
          log.warn({ engine: slot.engine.url, err }, why);
          // Tried again at the next check.
          if (slot.state === "loading") setState(slot, "down", why);
        },
      )
      .finally(() => (slot.loading = undefined));
  };

  /** Whether a build engine has an image as another id than the primary has it now. */
  const staleImages = async (slot: Slot): Promise<boolean> => {
    if (slot.engine.primary) return false;
    for (const ref of images) {
      const want = await slots[0]!.engine.runtime.inspectImage(ref).catch(() => undefined);
      if (!want) continue;
      const have = await slot.engine.runtime.inspectImage(ref).catch(() => undefined);
      if (have?.id !== want.id) return true;
    }
    return false;
  };

  /**
   * Each image the engine lacks, or has as another id than the primary, copied from the primary (or,
   * where the primary lacks it, from another engine that has it). The primary's own images are the
   * reference: they are only ever added, never replaced from elsewhere.
   */
  const ensureImages = async (slot: Slot): Promise<void> => {
    const target = slot.engine.runtime;
    const sources = slots.filter((s) => s !== slot).map((s) => s.engine);
    for (const ref of images) {
      const have = await target.inspectImage(ref);
      if (slot.engine.primary && have) continue;
      for (const source of sources) {
        const want = await source.runtime.inspectImage(ref).catch(() => undefined);
        if (!want) continue;
        if (have?.id === want.id) break;
        const started = Date.now();
        log.info({ engine: slot.engine.url, from: source.url, image: ref }, "copying a stack image to a build engine");
        await target.loadImage(await source.runtime.saveImage(ref));
        const now = await target.inspectImage(ref);
        if (now?.id !== want.id) throw new Error(`${ref} was loaded into ${slot.engine.url} but it is ${now?.id ?? "missing"} there, not ${want.id}`);
        log.info({ engine: slot.engine.url, image: ref, ms: Date.now() - started }, "copied a stack image to a build engine");
        break;
      }
      // No engine has it (a first start before `slugforge setup`).
      if (!(await target.inspectImage(ref))) throw new SlugforgeError("STACK_MISSING", `${ref} is on no build engine that answers; make it with \`slugforge setup\``);
    }
  };

  const check = async (): Promise<void> => {
    await Promise.all(slots.map((s) => checkOne(s)));
  };

  return {
    engines: slots.map((s) => s.engine),
    primary: slots[0]!.engine,
    acquire(prefer) {
      const index = chooseEngine(slots.map((s) => ({ up: s.state === "up", running: s.running, preferred: prefer?.(s.engine) ?? false })));
      const slot = slots[index ?? 0]!;
      slot.running++;
      let released = false;
      return {
        engine: slot.engine,
        signal: slot.alive.signal,
        release() {
          if (released) return;
          released = true;
          slot.running--;
        },
      };
    },
    status: () =>
      slots.map((s) => ({ url: s.engine.url, primary: s.engine.primary, state: s.state, running: s.running, since: s.since.toISOString(), lastError: s.lastError })),
    check,
    async confirmDown(engine) {
      if (slots.length === 1) return false;
      const slot = slotOf(engine);
      // An engine that is stopping kills its containers first and answers a moment longer: the
      // build sees its container gone before the engine stops answering. So it is asked a few times.
      const until = Date.now() + confirmMs;
      for (;;) {
        if (slot.state === "down") return true;
        const failure = await ping(slot);
        if (failure !== undefined) {
          setState(slot, "down", failure);
          return true;
        }
        if (Date.now() >= until) return false;
        await new Promise((resolve) => setTimeout(resolve, Math.min(250, confirmMs)));
      }
    },
    async start() {
      const every = options.checkMs ?? 0;
      if (every <= 0 || slots.length === 1) return;
      await check();
      timer = setInterval(() => void check().catch((err: unknown) => log.warn({ err }, "checking the build engines failed")), every);
      timer.unref();
    },
    async settled() {
      await Promise.all(slots.map((s) => s.loading));
    },
    close() {
      closed = true;
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}

/**
 * Which engine a build goes to, by index: among engines up, the fewest running builds; an engine
 * the build prefers (its app's prepared container is there) wins when it runs at most one build
 * more than that, since the prepared container saves the copy of the caches. Ties go to the
 * earlier engine. None up: undefined.
 */
export function chooseEngine(engines: readonly { readonly up: boolean; readonly running: number; readonly preferred: boolean }[]): number | undefined {
  const up = engines.map((e, i) => ({ ...e, i })).filter((e) => e.up);
  if (up.length === 0) return undefined;
  const fewest = Math.min(...up.map((e) => e.running));
  const near = up.filter((e) => e.preferred && e.running <= fewest + 1).sort((a, b) => a.running - b.running)[0];
  if (near) return near.i;
  return up.filter((e) => e.running === fewest)[0]!.i;
}

/** What a build on an engine that stopped answering fails with. */
export function engineDown(url: string, why?: string): SlugforgeError {
  return new SlugforgeError("ENGINE_DOWN", `The build engine ${url} stopped answering${why ? ` (${why})` : ""} while this build ran; nothing was released.`, {
    data: { engine: url },
  });
}

/** Whether an error is an engine going down (the lease's reason). */
export function isEngineDown(err: unknown): boolean {
  return isSlugforgeError(err) && err.code === "ENGINE_DOWN";
}
