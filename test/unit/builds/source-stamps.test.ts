import { describe, expect, it } from "vitest";
import { stampOf } from "../../../src/builds/laid-source.js";
import { restamped } from "../../../src/builds/steps/source.js";
import type { TreeChange } from "../../../src/builds/git-source.js";

const change = (status: string, oldMode: string, newMode: string, path: string): TreeChange => ({ status, oldMode, newMode, path });

describe("the times of a source updated in place (as git's checkout updates a working copy)", () => {
  it("gives what changed the new time, keeps the rest's, and drops what went", () => {
    const laid = { base: 100, changed: new Map([["old", 150], ["gone.txt", 150]]) };
    const { stamps, touch } = restamped(
      laid,
      [
        change("M", "040000", "040000", "src"),
        change("M", "100644", "100755", "src/run.sh"),
        change("A", "000000", "040000", "src/new"),
        change("A", "000000", "100644", "src/new/a.py"),
        change("D", "100644", "000000", "gone.txt"),
        // A folder that became a file: listed gone, then there (in either order).
        change("A", "000000", "100644", "dir2file"),
        change("D", "040000", "000000", "dir2file"),
        change("D", "100644", "000000", "dir2file/x"),
      ],
      200,
    );
    expect(Object.fromEntries(stamps.changed)).toEqual({ old: 150, src: 200, "src/run.sh": 200, "src/new": 200, "src/new/a.py": 200, dir2file: 200, "": 200 });
    expect(stamps.base).toBe(100);
    // Files come out of git archive with the time; folders (and /app) are given it.
    expect(touch).toEqual(["src", "src/new", "."]);
    expect(laid.changed.get("src")).toBeUndefined();
    expect(stampOf(stamps, "src/")).toBe(200);
    expect(stampOf(stamps, "keep.txt")).toBe(100);
    expect(stampOf(stamps, "old/")).toBe(150);
  });

  it("changes nothing when the trees are equal", () => {
    const { stamps, touch } = restamped({ base: 100, changed: new Map() }, [], 200);
    expect(stamps.changed.size).toBe(0);
    expect(touch).toEqual([]);
    expect(stampOf(stamps, "")).toBe(100);
  });
});
