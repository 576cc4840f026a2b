import { lstat, mkdir, readdir, readFile, stat } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import type { Container, ContainerRuntime } from "../../../src/docker/container-runtime.js";
import { runChecked, runProcess } from "../../../src/util/run-process.js";
import { bareRepoWithCommit, buildContainers, captureOutput, request, runtime, suiteTempDir, testService } from "./helpers.js";

/** The real engine, noting every build container stopped before its removal (caches renamed out of its layer). */
function notingStops(): { engine: ContainerRuntime; stopped: Set<string>; kept: Set<string> } {
  const stopped = new Set<string>();
  const kept = new Set<string>();
  const engine: ContainerRuntime = {
    ...runtime,
    create: async (spec) => {
      const created = await runtime.create(spec);
      if (spec.keepWhenStopped) kept.add(created.id);
      return {
        ...created,
        start: async (): Promise<Container> => {
          const started = await created.start();
          return {
            ...started,
            stop: async () => {
              stopped.add(started.id);
              await started.stop();
            },
          };
        },
      };
    },
  };
  return { engine, stopped, kept };
}

/*
 * Layer mode keeps a build's caches by stopping its container and renaming each CACHE_DIR out of
 * its upper layer, after an lstat of every folder on the way. A build that leaves its cache odd
 * (a file or a link where the folder was, the folder gone, a link at the cache root, set-id bits,
 * a process still writing) keeps nothing odd: the previous cache stays, or the cache is kept as
 * the build left it when it ended.
 */
describe("keeping caches out of a stopped container's layer (real Docker, layer mode)", () => {
  const root = suiteTempDir();

  const session = (name: string, engine: ContainerRuntime) => {
    const data = `${root.dir}/data-${name}`;
    const service = testService(data, { runtime: engine, shipped: ["swapper"] });
    let n = 0;
    const build = async (swap: string) => {
      const out = captureOutput();
      const repo = await bareRepoWithCommit(`${root.dir}/${name}-${n++}`, { SWAP: `${swap} /nowhere\n` });
      const result = await service.build(request(name, repo), out, new AbortController().signal);
      expect(result.status, out.text()).toBe("succeeded");
      await service.idle();
      // The container went, stopped or not.
      expect(await buildContainers(result.buildId)).toEqual([]);
      return { text: out.text(), result };
    };
    return { data, kept: `${data}/cache/${name}/swapper`, service, build };
  };

  it.each(["file", "gone", "inner", "rootinner"])("a build that leaves %s where its cache was keeps the previous cache", async (how) => {
    const { engine, stopped, kept } = notingStops();
    const s = session(`odd-${how}`, engine);
    try {
      await s.build("none");
      expect(stopped.size).toBe(1);
      expect([...stopped].every((id) => kept.has(id))).toBe(true);
      expect(await readdir(s.kept)).toEqual(["mine.txt"]);
      const before = await lstat(`${s.kept}/mine.txt`);
      await s.build(how);
      expect(stopped.size).toBe(2);
      // The previous cache, untouched: nothing of the odd one, no half-made copies beside it.
      expect((await lstat(s.kept)).isDirectory()).toBe(true);
      expect(await readdir(s.kept)).toEqual(["mine.txt"]);
      expect((await lstat(`${s.kept}/mine.txt`)).ino).toBe(before.ino);
      expect((await readdir(`${s.data}/cache/odd-${how}`)).filter((f) => f.startsWith("."))).toEqual([]);
      const next = await s.build("none");
      expect(next.text).toContain("Cache holds: ./mine.txt \n");
    } finally {
      await s.service.close();
    }
  });

  it("drops set-id bits and keeps the build user's files as theirs", async () => {
    const s = session("setid", runtime);
    try {
      await s.build("setid");
      const kept = await stat(`${s.kept}/setid.sh`);
      expect(kept.mode & 0o7777).toBe(0o755);
      expect(kept.uid).toBe(1000);
      expect((await stat(s.kept)).uid).toBe(1000);
    } finally {
      await s.service.close();
    }
  });

  it("keeps the cache as it was when the build ended: a process the build left running writes no more", async () => {
    const s = session("linger", runtime);
    try {
      await s.build("linger");
      const first = await readFile(`${s.kept}/late.txt`, "utf8");
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(await readFile(`${s.kept}/late.txt`, "utf8")).toBe(first);
      const next = await s.build("none");
      expect(next.text).toContain("./late.txt");
    } finally {
      await s.service.close();
    }
  });

  it("is copied out of the stopped layer where it cannot be renamed (the data folder on another mount of the same filesystem)", async () => {
    const mounted = `${root.dir}/bind`;
    await mkdir(`${root.dir}/bind-source`);
    await mkdir(mounted);
    await runChecked("mount", ["--bind", `${root.dir}/bind-source`, mounted]);
    const { engine, stopped } = notingStops();
    const data = `${mounted}/data`;
    const service = testService(data, { runtime: engine, shipped: ["swapper"] });
    try {
      const out = captureOutput();
      const repo = await bareRepoWithCommit(`${root.dir}/bind-1`, { SWAP: "setid /nowhere\n" });
      const result = await service.build(request("bound", repo), out, new AbortController().signal);
      expect(result.status, out.text()).toBe("succeeded");
      await service.idle();
      expect(stopped.size).toBe(1);
      expect(await buildContainers(result.buildId)).toEqual([]);
      expect((await readdir(`${data}/cache/bound/swapper`)).sort()).toEqual(["mine.txt", "setid.sh"]);
      expect((await stat(`${data}/cache/bound/swapper/setid.sh`)).mode & 0o7777).toBe(0o755);
      expect((await readdir(`${data}/cache/bound`)).filter((f) => f.startsWith("."))).toEqual([]);
    } finally {
      await service.close();
      await runProcess("umount", ["-l", mounted]);
    }
  });

  it("comes back through the container's tar when the data folder is on another filesystem", async () => {
    const disk = `${root.dir}/disk`;
    await mkdir(disk);
    await runChecked("mount", ["-t", "tmpfs", "-o", "size=64m", "tmpfs", disk]);
    const { engine, stopped } = notingStops();
    const data = `${disk}/data`;
    const service = testService(data, { runtime: engine, shipped: ["swapper"] });
    try {
      const build = async (n: number) => {
        const out = captureOutput();
        const repo = await bareRepoWithCommit(`${root.dir}/other-fs-${n}`, { SWAP: "none /nowhere\n" });
        const result = await service.build(request("other-fs", repo), out, new AbortController().signal);
        expect(result.status, out.text()).toBe("succeeded");
        await service.idle();
        expect(await buildContainers(result.buildId)).toEqual([]);
        return out.text();
      };
      await build(1);
      expect(stopped.size).toBe(0);
      expect(await readdir(`${data}/cache/other-fs/swapper`)).toEqual(["mine.txt"]);
      expect(await build(2)).toContain("Cache holds: ./mine.txt \n");
    } finally {
      await service.close();
      await runProcess("umount", ["-l", disk]);
    }
  });
});
