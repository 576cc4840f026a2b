import { describe, expect, it } from "vitest";
import type { InstalledBuildpack } from "../../../src/builds/steps/step.js";
import { compileCommand } from "../../../src/builds/steps/compile.js";

const bp = (i: number, name: string): InstalledBuildpack => ({
  name,
  key: name,
  spec: name,
  hostDir: `/host/${name}`,
  dir: `/tmp/buildpacks/${i}-${name}`,
  cacheDir: `/tmp/cache/${name}`,
});

describe("compileCommand", () => {
  it("runs the first buildpack's compile directly", () => {
    expect(compileCommand(bp(0, "python"), [])).toEqual(["/tmp/buildpacks/0-python/bin/compile", "/app", "/tmp/cache/python", "/tmp/env"]);
  });
  it("sources every earlier buildpack's export, in order, before a later compile", () => {
    const cmd = compileCommand(bp(2, "c"), [bp(0, "a"), bp(1, "b")]);
    expect(cmd.slice(0, 2)).toEqual(["bash", "-c"]);
    expect(cmd[2]).toBe(
      [
        "if [ -f '/tmp/buildpacks/0-a/export' ]; then . '/tmp/buildpacks/0-a/export'; fi",
        "if [ -f '/tmp/buildpacks/1-b/export' ]; then . '/tmp/buildpacks/1-b/export'; fi",
        `exec '/tmp/buildpacks/2-c/bin/compile' "$@"`,
      ].join("\n"),
    );
    expect(cmd.slice(3)).toEqual(["compile", "/app", "/tmp/cache/c", "/tmp/env"]);
  });
});
