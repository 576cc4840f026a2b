import { mkdir, readdir, writeFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import type { ContainerRuntime } from "../../../src/docker/container-runtime.js";
import { runProcess } from "../../../src/util/run-process.js";
import { bareRepoWithCommit, captureOutput, readSlug, request, runtime, slugFile, suiteTempDir, testService } from "./helpers.js";

const mountOnly: ContainerRuntime = { ...runtime, layerAccess: async () => false };
const SECRET = "HOST-SECRET-d41d8cd98f00";

/*
 * What crosses the container boundary is read through the container's own view. A hostile build
 * swaps symbolic links to host paths in at each place the server reads back after a build (the
 * cache root, its cache folder, the Procfile): nothing of the host may arrive in the kept cache,
 * the next build, the slug or the release.
 */
describe.each([
  { mode: "layer", engine: runtime },
  { mode: "mount", engine: mountOnly },
])("the container boundary in $mode mode (real Docker)", ({ engine }) => {
  const root = suiteTempDir();

  it.each(["root", "cache", "procfile"])("a link swapped in at the %s brings nothing of the host back", async (how) => {
    const host = `${root.dir}/host-${how}`;
    await mkdir(`${host}/swapper`, { recursive: true });
    await writeFile(`${host}/swapper/secret.txt`, `${SECRET}\n`);
    await writeFile(`${host}/Procfile`, `web: echo ${SECRET}\n`);
    const data = `${root.dir}/data-${how}`;
    const service = testService(data, { runtime: engine, shipped: ["swapper"] });
    const build = async (n: number, swap: string) => {
      const out = captureOutput();
      const repo = await bareRepoWithCommit(`${root.dir}/${how}-${n}`, { SWAP: `${swap} ${host}\n` });
      const result = await service.build(request(`swap-${how}`, repo), out, new AbortController().signal);
      await service.idle();
      return { text: out.text(), result };
    };
    try {
      const first = await build(1, how);
      expect(first.result.status, first.text).toBe("succeeded");
      expect(first.result.processTypes ?? {}).not.toHaveProperty("web", `echo ${SECRET}`);
      expect(JSON.stringify([...(await readSlug(slugFile(data, first.result))).values()])).not.toContain(SECRET);
      // The kept cache holds nothing of the host.
      const kept = await runProcess("grep", ["-r", "-l", SECRET, `${data}/cache`]);
      expect(kept.stdout).toBe("");
      const second = await build(2, "none");
      expect(second.result.status).toBe("succeeded");
      expect(second.text).not.toContain(SECRET);
      expect(second.text).not.toContain("secret.txt");
    } finally {
      await service.close();
    }
    expect(await readdir(host)).toEqual(["Procfile", "swapper"]);
  });
});
