import { readdir } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bareRepoWithCommit, captureOutput, readSlug, slugFile, request, tempDir, testService } from "./helpers.js";

describe("build cache (real Docker)", () => {
  let root: { dir: string; cleanup(): Promise<void> };
  beforeAll(async () => {
    root = await tempDir();
  });
  afterAll(async () => root.cleanup());

  it("is kept between successful builds and left untouched by a failed one", async () => {
    const data = `${root.dir}/data`;
    const service = testService(data);
    const build = async (dir: string, files: Record<string, string>): Promise<{ text: string; result: Awaited<ReturnType<typeof service.build>> }> => {
      const out = captureOutput();
      const result = await service.build(request("cached", await bareRepoWithCommit(`${root.dir}/${dir}`, files)), out, new AbortController().signal);
      return { text: out.text(), result };
    };

    const first = await build("one", { CACHE: "" });
    expect(first.result.status).toBe("succeeded");
    expect(first.text).toContain("Cache count was 0");

    const failing = await build("two", { CACHE: "", FAIL: "" });
    expect(failing.result.error?.code).toBe("COMPILE_FAILED");
    expect(failing.text).toContain("Cache count was 1");
    expect(failing.text).toContain(" !     Failing on purpose\n");
    expect(failing.text.trimEnd().split("\n").at(-1)).toMatch(/^ ! {5}Push rejected: COMPILE_FAILED \(build [0-9a-f-]{36}\)\. Read the build output/);

    const third = await build("three", { CACHE: "" });
    expect(third.result.status).toBe("succeeded");
    expect(third.text).toContain("Cache count was 1");
    const slug = await readSlug(slugFile(data, third.result));
    expect(slug.get("./app/count-seen")?.content.trim()).toBe("1");

    const fourth = await build("four", { CACHE: "" });
    expect(fourth.text).toContain("Cache count was 2");
    // The kept cache is a folder per buildpack; the builds' working copies are gone.
    expect((await readdir(`${data}/cache/cached`)).filter((n) => !n.startsWith(".spare-")).sort()).toEqual(["cacher", "slug-members.json"]);
  });
});
