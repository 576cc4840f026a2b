import { expect, it } from "vitest";
import { createStepTimer } from "../../../src/util/step-timer.js";

it("times each step, says it when it ends, and tables overlapping steps by start", async () => {
  let clock = 1000;
  const said: string[] = [];
  const timer = createStepTimer((line) => said.push(line), () => clock);
  let release!: () => void;
  const slow = timer.step("debootstrap", () => new Promise<string>((resolve) => (release = () => resolve("rootfs"))));
  clock = 3500;
  await timer.step("start dockerd", async () => {
    clock = 4000;
  });
  clock = 43_000;
  release();
  expect(await slow).toBe("rootfs");
  await expect(timer.step("import", async () => {
    clock = 44_000;
    throw new Error("engine gone");
  })).rejects.toThrow("engine gone");
  expect(said).toEqual(["start dockerd: done in 0.5 s", "debootstrap: done in 42.0 s", "import: failed after 1.0 s"]);
  expect(timer.summary()).toEqual([
    "   start     took  step",
    "   0.0 s   42.0 s  debootstrap",
    "   2.5 s    0.5 s  start dockerd",
    "  42.0 s    1.0 s  import (failed)",
  ]);
  expect(timer.elapsedMs()).toBe(43_000);
});
