import { describe, expect, it } from "vitest";
import { decidePush } from "../../../src/git/ref-policy.js";

const Z = "0".repeat(40);
const A = "a".repeat(40);
const B = "b".repeat(40);
const empty = { hasMain: false, hasMaster: false };
const mainRepo = { hasMain: true, hasMaster: false };
const masterRepo = { hasMain: false, hasMaster: true };

describe("decidePush", () => {
  it("builds main; master only where the repo uses master", () => {
    expect(decidePush(mainRepo, [{ old: A, new: B, ref: "refs/heads/main" }])).toMatchObject({ kind: "build" });
    expect(decidePush(empty, [{ old: Z, new: B, ref: "refs/heads/master" }])).toMatchObject({ kind: "build" });
    expect(decidePush(masterRepo, [{ old: A, new: B, ref: "refs/heads/master" }])).toMatchObject({ kind: "build" });
    expect(decidePush(masterRepo, [{ old: Z, new: B, ref: "refs/heads/main" }])).toMatchObject({ kind: "refuse" });
    expect(decidePush(mainRepo, [{ old: Z, new: B, ref: "refs/heads/master" }])).toMatchObject({ kind: "refuse" });
  });
  it("no changed refs is a no-op", () => {
    expect(decidePush(mainRepo, [])).toEqual({ kind: "noop" });
    expect(decidePush(mainRepo, [{ old: A, new: A, ref: "refs/heads/main" }])).toEqual({ kind: "noop" });
  });
  it("refuses branches, tags, notes and deletes, and any push that mixes them with main", () => {
    for (const ref of ["refs/heads/feature", "refs/tags/v1", "refs/notes/x", "refs/for/main"]) {
      const d = decidePush(mainRepo, [{ old: Z, new: B, ref }]);
      expect(d).toMatchObject({ kind: "refuse", code: "BRANCH_NOT_DEPLOYABLE" });
    }
    expect(decidePush(mainRepo, [{ old: A, new: Z, ref: "refs/heads/main" }])).toMatchObject({ kind: "refuse" });
    const mixed = decidePush(mainRepo, [{ old: A, new: B, ref: "refs/heads/main" }, { old: Z, new: B, ref: "refs/tags/v1" }]);
    expect(mixed.kind).toBe("refuse");
    if (mixed.kind === "refuse") expect(mixed.summary).toContain("HEAD:main");
  });
});
