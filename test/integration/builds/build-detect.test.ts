import { readdir } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { bareRepoWithCommit, buildContainers, captureOutput, request, suiteTempDir, testService } from "./helpers.js";

describe("detect and release failures (real Docker)", () => {
  const root = suiteTempDir();

  it("NO_BUILDPACK_DETECTED names the app root's files and the buildpacks tried", async () => {
    const repo = await bareRepoWithCommit(`${root.dir}/none`, { "index.php": "<?php", "README.md": "hi" });
    const out = captureOutput();
    const result = await testService(`${root.dir}/data`).build(request("nothing", repo), out, new AbortController().signal);
    expect(result.status).toBe("failed");
    expect(result.error?.code).toBe("NO_BUILDPACK_DETECTED");
    expect(result.error?.message).toContain("index.php");
    expect(result.error?.message).toContain("README.md");
    expect(result.error?.message).toContain("never, recorder, cacher, slow, bad-release");
    const lines = out.text().trimEnd().split("\n");
    expect(lines.at(-1)).toMatch(new RegExp(`^ !     Push rejected: NO_BUILDPACK_DETECTED \\(build ${result.buildId}\\)\\. `));
    expect(await buildContainers(result.buildId)).toEqual([]);
  });

  it("the first shipped buildpack whose detect passes wins, in the configured order", async () => {
    const repo = await bareRepoWithCommit(`${root.dir}/order`, { RECORD: "", CACHE: "" });
    const out = captureOutput();
    const service = testService(`${root.dir}/data-order`, { shipped: ["never", "cacher", "recorder"] });
    const result = await service.build(request("order", repo), out, new AbortController().signal);
    expect(result.status).toBe("succeeded");
    expect(out.text()).toContain("-----> Cacher app detected\n");
    // bin/release and the slug run side by side; the output keeps Heroku's order.
    const text = out.text();
    expect(text.indexOf("-----> Discovering process types")).toBeGreaterThan(0);
    expect(text.indexOf("-----> Discovering process types")).toBeLessThan(text.indexOf("-----> Compressing..."));
    expect(text.indexOf("-----> Compressing...")).toBeLessThan(text.indexOf("       Done: "));
    expect(out.text()).not.toContain("Recorder app detected");
  });

  it("RELEASE_INVALID when bin/release prints something other than a mapping", async () => {
    const repo = await bareRepoWithCommit(`${root.dir}/bad`, { BAD_RELEASE: "" });
    const out = captureOutput();
    const result = await testService(`${root.dir}/data-bad`).build(request("badrelease", repo), out, new AbortController().signal);
    expect(result.error?.code).toBe("RELEASE_INVALID");
    expect(out.text()).toContain("-----> BadRelease app detected");
    // The slug was read while bin/release ran (it takes a second here); none is kept, none announced.
    expect(out.text()).not.toContain("Compressing...");
    expect(await filesUnder(`${root.dir}/data-bad/slugs`)).toEqual([]);
    expect(out.text().trimEnd().split("\n").at(-1)).toContain(`Push rejected: RELEASE_INVALID (build ${result.buildId})`);
  });
});

/** Every file under `dir`, recursively (none when it does not exist). */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => e.name);
}
