import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { createDockerRuntime } from "../../../src/docker/dockerode-runtime.js";
import { openHandles } from "../../../src/util/open-handles.js";

const runtime = createDockerRuntime();

/*
 * An exec made in a container that goes before the exec is started: the engine refuses the start.
 * An exec fed on stdin starts with a request that is never ended, so its connection stayed open
 * after the refusal and kept a stopped server's process alive.
 */
describe("an exec whose container goes between its creation and its start (real Docker)", () => {
  it("fails, and leaves no connection to the engine open", async () => {
    let refused = 0;
    for (let attempt = 0; attempt < 8 && refused === 0; attempt++) {
      const container = await runtime.start({ image: "slugforge/stack:debian-13-run", network: "none" });
      // Many execs at once, the container removed while they are being made and started: some are
      // made before it goes and started after.
      const runs = Array.from({ length: 30 }, () =>
        container.exec(["sleep", "5"], { stdin: new Readable({ read() {} }) }).then(
          () => undefined,
          (err: Error) => err.message,
        ),
      );
      await sleep([5, 10, 0, 20][attempt % 4]!);
      await container.remove();
      const failures = await Promise.all(runs);
      refused += failures.filter((m) => m !== undefined && /container not running|container stopped|no such exec/i.test(m)).length;
    }
    expect(refused, "no exec start was refused in 8 tries: the race was not met").toBeGreaterThan(0);
    // The engine's answer is read, then the connection is cut.
    for (let i = 0; i < 20 && openHandles().some((h) => h.includes("/exec/")); i++) await sleep(50);
    expect(openHandles().filter((h) => h.includes("/exec/"))).toEqual([]);
  }, 120_000);
});
