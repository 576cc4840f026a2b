import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { createBuildService } from "../../../src/builds/build-service.js";
import { parseConfig } from "../../../src/config/parse-config.js";
import type { BuildRecorder } from "../../../src/builds/types.js";
import type { ContainerRuntime } from "../../../src/docker/container-runtime.js";
import { SlugforgeError } from "../../../src/errors.js";
import { createLogger } from "../../../src/log.js";

function fakeRuntime(start: ContainerRuntime["start"]): ContainerRuntime {
  const no = (): never => {
    throw new Error("not used");
  };
  const image = { id: "sha256:fake", tags: [], sizeBytes: 0, createdAt: new Date(0), labels: {}, diffIds: [], os: "linux", architecture: "amd64", env: [] };
  return { ping: no, inspectImage: async () => image, listImages: no, importImage: no, removeImage: no, saveImage: no, loadImage: no, layerAccess: async () => false, create: no, start, runOnce: no, listContainers: async () => [], removeContainer: async () => undefined, sweepOrphans: async () => 0 };
}

/** A real commit to build (a build reads its commit before it opens a container). */
const repo = (() => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "sf-build-service-"));
  const env = { PATH: process.env.PATH, HOME: dir, GIT_CONFIG_NOSYSTEM: "1", GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@example.com", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@example.com" };
  const gitDir = path.join(dir, "repo.git");
  execFileSync("git", ["init", "-q", "--bare", gitDir], { env });
  const tree = execFileSync("git", ["--git-dir", gitDir, "mktree"], { env, input: "" }).toString().trim();
  const commit = execFileSync("git", ["--git-dir", gitDir, "commit-tree", tree, "-m", "app"], { env }).toString().trim();
  return { dir, gitDir, commit };
})();
afterAll(() => execFileSync("rm", ["-rf", repo.dir]));

function setup(start: ContainerRuntime["start"], recorder?: BuildRecorder) {
  const logStream = new PassThrough();
  let logs = "";
  logStream.on("data", (b: Buffer) => (logs += b.toString()));
  const config = parseConfig({ SLUGFORGE_DATA: "/nonexistent-slugforge-test", SLUGFORGE_BUILD_CACHE_MODE: "mount" }).config!;
  const service = createBuildService({
    runtime: fakeRuntime(start),
    config,
    log: createLogger("info", logStream),
    buildpacksDir: "/nonexistent",
    getConfigVars: async () => ({ SECRET: "hunter2-value" }),
    recorder,
    recordRetryMs: 20,
  });
  let output = "";
  const out = { write: (c: string | Buffer) => void (output += c.toString()) };
  const request = { app: "demo", commit: repo.commit, ref: "refs/heads/main", source: { gitDir: repo.gitDir }, pushOptions: [] };
  return { service, out, request, output: () => output, logs: () => logs };
}

describe("build service failures (fake runtime)", () => {
  it("an unexpected error becomes INTERNAL: the pusher gets the build id only, the log gets the stack", async () => {
    const t = setup(async () => {
      throw new Error("engine exploded at /var/lib/internal/path");
    });
    const result = await t.service.build(t.request, t.out, new AbortController().signal);
    expect(result.status).toBe("failed");
    expect(result.error?.code).toBe("INTERNAL");
    expect(t.output()).not.toContain("exploded");
    const lines = t.output().trimEnd().split("\n");
    expect(lines[0]).toBe(`-----> Build ${result.buildId} of demo (${repo.commit.slice(0, 7)})`);
    expect(lines.at(-1)).toMatch(new RegExp(`^ !     Push rejected: INTERNAL \\(build ${result.buildId}\\)\\. This is a bug`));
    await new Promise((r) => setImmediate(r));
    const entry = t.logs().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).find((e) => e.msg === "build failed");
    expect(entry).toMatchObject({ buildId: result.buildId, app: "demo", commit: t.request.commit });
    expect(String((entry?.err as { stack?: string })?.stack)).toContain("engine exploded");
    expect(t.logs()).not.toContain("hunter2-value");
  });

  it("config var values are masked in the pusher's output, the stored output and the error message", async () => {
    const stored: Buffer[] = [];
    const recorder: BuildRecorder = { queued: async () => undefined, started: async () => undefined, output: async (_id, chunk) => void stored.push(chunk), finished: async () => ({ lines: [] }) };
    const t = setup(async () => {
      throw new SlugforgeError("BUILDPACK_NOT_FOUND", "could not fetch https://hunter2-value@git.example/bp.git");
    }, recorder);
    const result = await t.service.build(t.request, t.out, new AbortController().signal);
    expect(result.error).toEqual({ code: "BUILDPACK_NOT_FOUND", message: "could not fetch https://****@git.example/bp.git" });
    expect(t.output()).toContain(" !     could not fetch https://****@git.example/bp.git\n");
    expect(Buffer.concat(stored).toString()).toBe(t.output());
    expect(t.output()).not.toContain("hunter2");
  });

  it("a known operator-side error keeps its code and message (STACK_MISSING)", async () => {
    const t = setup(async () => {
      throw new SlugforgeError("STACK_MISSING", "image slugforge/stack:debian-13-build is missing; run `slugforge stack build`");
    });
    const result = await t.service.build(t.request, t.out, new AbortController().signal);
    expect(result.error?.code).toBe("STACK_MISSING");
    expect(t.output()).toContain(" !     image slugforge/stack:debian-13-build is missing");
  });

  it("refuses an app name that could escape the data folder", async () => {
    const t = setup(async () => {
      throw new Error("must not start");
    });
    const result = await t.service.build({ ...t.request, app: "../etc" }, t.out, new AbortController().signal);
    expect(result.error?.code).toBe("APP_NAME_INVALID");
  });

  it("already cancelled: BUILD_CANCELLED, status cancelled, nothing started", async () => {
    let started = false;
    const t = setup(async () => {
      started = true;
      throw new Error("must not start");
    });
    const controller = new AbortController();
    controller.abort();
    const result = await t.service.build(t.request, t.out, controller.signal);
    expect(result).toMatchObject({ status: "cancelled", error: { code: "BUILD_CANCELLED" } });
    expect(started).toBe(false);
  });

  it("a disk that fills under the build is STORAGE_FULL, with what to free", async () => {
    const t = setup(async () => {
      throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    });
    const result = await t.service.build(t.request, t.out, new AbortController().signal);
    expect(result.error?.code).toBe("STORAGE_FULL");
    expect(t.output()).toContain("the server's disk is full");
    expect(t.output().trimEnd().split("\n").at(-1)).toMatch(/Push rejected: STORAGE_FULL .*Free space/);
  });

  it("a result the records cannot take (a full disk) is kept once they can", async () => {
    const kept: string[] = [];
    let fails = 2;
    const recorder: BuildRecorder = {
      queued: async () => undefined,
      started: async () => undefined,
      output: async () => undefined,
      finished: async (_request, result) => {
        if (fails-- > 0) throw Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });
        kept.push(`${result.buildId} ${result.status} ${result.error?.code}`);
        return { lines: [] };
      },
    };
    const t = setup(async () => {
      throw new SlugforgeError("STACK_MISSING", "no image");
    }, recorder);
    const result = await t.service.build(t.request, t.out, new AbortController().signal);
    expect(result.error?.code).toBe("STACK_MISSING");
    for (let i = 0; i < 100 && kept.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(kept).toEqual([`${result.buildId} failed STACK_MISSING`]);
    await t.service.close();
  });
});
