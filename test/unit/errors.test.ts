import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ERROR_CODES, SlugforgeError, errorLine, toSlugforgeError } from "../../src/errors.js";

describe("error codes", () => {
  const doc = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");
  const documented = new Map(
    [...doc.matchAll(/^\| `([A-Z_]+)` \| (\d+) \| (user|operator) \|/gm)].map((m) => [m[1], { status: Number(m[2]), user: m[3] === "user" }]),
  );

  it("documents every code with its status and cause, and nothing else", () => {
    expect([...documented.keys()].sort()).toEqual(Object.keys(ERROR_CODES).sort());
    for (const [code, meta] of Object.entries(ERROR_CODES)) {
      expect(documented.get(code), code).toEqual({ status: meta.status, user: meta.user });
    }
  });

  it("includes every code the design has always promised (README, docs/errors.md)", () => {
    const promised = [
      "NO_BUILDPACK_DETECTED", "BUILDPACK_NOT_FOUND", "COMPILE_FAILED", "RELEASE_INVALID", "SLUG_TOO_LARGE",
      "BUILD_TIMEOUT", "BUILD_CANCELLED", "PUSH_TOO_LARGE", "BRANCH_NOT_DEPLOYABLE", "APP_NAME_INVALID",
      "UNAUTHORIZED", "DOCKER_UNAVAILABLE", "STACK_MISSING", "INTERNAL",
    ];
    for (const code of promised) expect(Object.keys(ERROR_CODES)).toContain(code);
  });

  it("carries code, data, cause and whether the user caused it", () => {
    const cause = new Error("boom");
    const err = new SlugforgeError("COMPILE_FAILED", "compile exited 1", { cause, data: { exitCode: 1 } });
    expect(err.code).toBe("COMPILE_FAILED");
    expect(err.userCaused).toBe(true);
    expect(err.status).toBe(422);
    expect(err.data).toEqual({ exitCode: 1 });
    expect(err.cause).toBe(cause);
    expect(toSlugforgeError(new Error("x")).code).toBe("INTERNAL");
    expect(toSlugforgeError(err)).toBe(err);
  });

  it("writes an error as one line, CODE first, with the code's hint when there is no message", () => {
    expect(errorLine("REF_MOVED", "nothing was built.")).toBe("REF_MOVED: nothing was built.");
    expect(errorLine("APP_NAME_INVALID")).toBe(`APP_NAME_INVALID: ${ERROR_CODES.APP_NAME_INVALID.hint}`);
  });
});
