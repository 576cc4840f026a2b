import { mkdir, readdir } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import { BuildCaches, type PreparedContainer } from "../../../src/builds/build-caches.js";
import { silentLogger } from "../../../src/log.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";

/** A prepared container that only notes its removal (our own CreatedContainer interface). */
function fakePrepared(removed: string[], id: string): PreparedContainer {
  return {
    specKey: "spec",
    imageId: "image",
    created: {
      id,
      start: () => Promise.reject(new Error("not started in these tests")),
      remove: async () => void removed.push(id),
    },
  };
}

function gate(): { open(): void; opened: Promise<void> } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

/** An app's next build waits for its background work only until that work offers it a container. */
describe("build caches: ready() and settled()", () => {
  const dirs = tmpDirs();
  const log = silentLogger();
  afterEach(() => dirs.cleanup());

  it("ready() resolves at the offer while the rest of the work goes on; settled() waits for all of it", async () => {
    const caches = new BuildCaches({ cacheDir: await dirs.make(), log });
    const removed: string[] = [];
    const rest = gate();
    let restDone = false;
    caches.later(
      "app",
      async () => {
        await caches.offer("app", fakePrepared(removed, "next"));
        await rest.opened;
        restDone = true;
      },
      log,
      60_000,
    );
    await caches.ready("app");
    expect(restDone).toBe(false);
    expect((await caches.take("app", "spec", "image"))?.created.id).toBe("next");
    const settled = caches.settled("app");
    rest.open();
    await settled;
    expect(restDone).toBe(true);
    expect(removed).toEqual([]);
  });

  it("ready() resolves when the work ends without an offer, at once when there is none, and not for an offer made before it was called", async () => {
    const caches = new BuildCaches({ cacheDir: await dirs.make(), log });
    await caches.ready("none");
    const removed: string[] = [];
    await caches.offer("app", fakePrepared(removed, "older"));
    const end = gate();
    caches.later("app", () => end.opened, log, 60_000);
    let ready = false;
    const waiting = caches.ready("app").then(() => (ready = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(ready).toBe(false);
    end.open();
    await waiting;
    expect(ready).toBe(true);
  });

  it("settled() waits for work that a job queued in turn", async () => {
    const caches = new BuildCaches({ cacheDir: await dirs.make(), log });
    const done: string[] = [];
    caches.later(
      "app",
      async () => {
        caches.later("app", async () => void (await new Promise((resolve) => setTimeout(resolve, 50)), done.push("second")), log, 60_000);
        done.push("first");
      },
      log,
      60_000,
    );
    await caches.settled("app");
    expect(done).toEqual(["first", "second"]);
  });

  it("work waiting for a free slot starts at once for ready(), as for settled()", async () => {
    let busy = true;
    const caches = new BuildCaches({ cacheDir: await dirs.make(), log, busy: () => busy });
    let ran = false;
    caches.later("app", async () => void (ran = true), log, 60_000);
    await caches.ready("app");
    expect(ran).toBe(true);
    // Another waiter's urgency is not cut short by ready() ending first.
    const dir = `${caches.cacheDir}/x`;
    await mkdir(dir);
    caches.later("app", async () => void (await readdir(dir)), log, 60_000);
    const [a, b] = [caches.settled("app"), caches.ready("app")];
    await Promise.all([a, b]);
    busy = false;
  });
});
