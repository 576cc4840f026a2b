import { mkdir, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseBuildpackRef } from "../../../src/buildpacks/buildpack-ref.js";
import { createBuildpackResolver } from "../../../src/buildpacks/resolve-buildpacks.js";
import { SlugforgeError } from "../../../src/errors.js";

describe("file:// buildpacks only under the operator's roots", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "sf-roots-"));
    await mkdir(`${dir}/roots/allowed`, { recursive: true });
    await mkdir(`${dir}/repos/other-app.git`, { recursive: true });
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const refusal = async (spec: string): Promise<SlugforgeError> => {
    const resolver = createBuildpackResolver({ shippedDir: `${dir}/shipped`, shippedOrder: [], gitCacheDir: `${dir}/cache`, fileRoots: [`${dir}/roots`] });
    try {
      await resolver.resolve([parseBuildpackRef(spec)]);
    } catch (err) {
      if (err instanceof SlugforgeError) return err;
      throw err;
    }
    throw new Error(`${spec} was not refused`);
  };

  it.each([
    "file://DIR/repos/other-app.git",
    "file://DIR/repos/no-such-repo.git",
    "file://DIR/roots/../repos/other-app.git",
    "file://DIR/roots/%2e%2e/repos/other-app.git",
    "file://DIR/rootsX/allowed",
    "file:///etc",
    "file://otherhost/DIR/roots/allowed",
  ])("refuses %s with the same answer whether it exists or not", async (spec) => {
    const err = await refusal(spec.replace("/DIR", dir));
    expect(err.code).toBe("BUILDPACK_NOT_FOUND");
    expect(err.message).toContain("only taken from the folders the operator allows (SLUGFORGE_BUILDPACK_ROOTS)");
    expect(err.message).not.toMatch(/no such|not found|does not exist/i);
  });

  it("passes a path under a root on to git (which says whether it is there)", async () => {
    const err = await refusal(`file://${dir}/roots/allowed`);
    expect(err.code).toBe("BUILDPACK_NOT_FOUND");
    expect(err.message).toContain("could not fetch buildpack");
  });
});
