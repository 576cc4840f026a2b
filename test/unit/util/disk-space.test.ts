import { describe, expect, it } from "vitest";
import { createDiskGuard, underReserve } from "../../../src/util/disk-space.js";

const MB = 1024 * 1024;
const freeOf = (bytes: number) => async (): Promise<number> => bytes;

describe("underReserve", () => {
  it("gives the free bytes only when they are under the reserve", async () => {
    expect(await underReserve("/x", 100 * MB, freeOf(99 * MB))).toBe(99 * MB);
    expect(await underReserve("/x", 100 * MB, freeOf(100 * MB))).toBeUndefined();
  });

  it("does not ask the disk when the reserve is 0", async () => {
    const asked: string[] = [];
    expect(await underReserve("/x", 0, async (dir) => (asked.push(dir), 0))).toBeUndefined();
    expect(asked).toEqual([]);
  });

  it("passes on a failure to ask the disk", async () => {
    await expect(underReserve("/x", MB, () => Promise.reject(new Error("EIO")))).rejects.toThrow("EIO");
  });
});

describe("createDiskGuard", () => {
  it("refuses with STORAGE_FULL, the free figure and what was refused", async () => {
    const guard = createDiskGuard("/data", 100 * MB, freeOf(3 * MB));
    expect(await guard.ok()).toBe(false);
    await expect(guard.check("The push")).rejects.toMatchObject({
      code: "STORAGE_FULL",
      message: expect.stringMatching(/3\.0M free where it keeps its data \(\/data\).*The push was refused and nothing was written/),
    });
  });

  it("lets work through at the reserve, with the check off, or when the disk cannot be asked", async () => {
    for (const guard of [
      createDiskGuard("/data", 100 * MB, freeOf(100 * MB)),
      createDiskGuard("/data", 0, freeOf(0)),
      createDiskGuard("/data", 100 * MB, () => Promise.reject(new Error("EIO"))),
    ]) {
      expect(await guard.ok()).toBe(true);
      await expect(guard.check("The push")).resolves.toBeUndefined();
    }
  });
});
