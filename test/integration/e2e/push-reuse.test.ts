import { cp, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ContainerRuntime, ImageWatchHandlers } from "../../../src/docker/container-runtime.js";
import { createDockerRuntime } from "../../../src/docker/dockerode-runtime.js";
import { GitClient } from "../../helpers/git-client.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";
import { startServer, type RunningServer } from "./server.js";

/*
 * Same inputs, no build: a push whose tree, buildpacks, stack images and config vars equal an
 * earlier successful build's reuses its slug. Each input changed in turn builds for real; the push
 * options rebuild, clear-cache and dry-run; an unknown option is refused.
 */
const FIXTURE_BUILDPACKS = path.resolve(import.meta.dirname, "../../fixtures/buildpacks");
const dirs = tmpDirs();
const real = createDockerRuntime();
/**
 * The real engine, but able to say the stack's build image has another id (a rebuilt stack), and
 * to tell those who follow its image events, as the engine tells of a real rebuild (the server
 * keeps the stack's ids while it follows them).
 */
let stackRebuilt = false;
const watchers = new Set<ImageWatchHandlers>();
const runtime: ContainerRuntime = {
  ...real,
  async inspectImage(ref) {
    const info = await real.inspectImage(ref);
    return info && stackRebuilt && ref.endsWith("-build") ? { ...info, id: `${info.id}-rebuilt` } : info;
  },
  async watchImages(handlers) {
    const watch = await real.watchImages!({
      onChange: handlers.onChange,
      onEnd: () => {
        watchers.delete(handlers);
        handlers.onEnd();
      },
    });
    watchers.add(handlers);
    return watch;
  },
};
function rebuildStack(): void {
  stackRebuilt = true;
  for (const w of watchers) w.onChange();
}
let server: RunningServer;
let git: GitClient;
let work: string;
let bpDir: string;

beforeAll(async () => {
  git = new GitClient(await dirs.make("sf-reuse-home-"));
  bpDir = await dirs.make("sf-reuse-bp-");
  await cp(path.join(FIXTURE_BUILDPACKS, "cacher"), bpDir, { recursive: true });
  await git.ok(["init", "-q", "-b", "main"], bpDir);
  await git.ok(["add", "-A"], bpDir);
  await git.ok(["commit", "-q", "-m", "cacher"], bpDir);
  server = await startServer(await dirs.make("sf-reuse-data-"), {}, { runtime });
  work = await dirs.make("sf-reuse-app-");
  await git.initRepo(work);
  await git.commit(work, ".buildpacks", `file://${bpDir}\n`, "buildpack");
  await git.commit(work, "CACHE", "", "cacher");
}, 120_000);
afterAll(async () => {
  await server?.close();
  await dirs.cleanup();
});

interface Release {
  version: number;
  slugId: string;
}
const push = (args: string[] = []) => git.run(["push", ...args, server.url("reuse"), "main"], work);
const releases = async (): Promise<Release[]> => (await server.api<Release[]>("GET", "/api/apps/reuse/releases")).body;
const built = (stderr: string): boolean => stderr.includes("Cache count was");

describe("same inputs, no build", () => {
  it("reuses the slug for a new commit with the same tree, and builds again when any input changes", async () => {
    const first = await push();
    expect(first.code, first.stderr).toBe(0);
    expect(built(first.stderr)).toBe(true);
    const [v1] = await releases();

    // An empty commit: same tree, same everything.
    await git.ok(["commit", "-q", "--allow-empty", "-m", "empty"], work);
    const same = await push();
    expect(same.code, same.stderr).toBe(0);
    expect(same.stderr).toMatch(new RegExp(`-----> Reusing slug ${v1!.slugId} of build [0-9a-f-]{36} \\(same tree, buildpacks, stack and config\\)`));
    expect(built(same.stderr)).toBe(false);
    const [v2] = await releases();
    expect(v2).toMatchObject({ version: 2, slugId: v1!.slugId });

    // Each input in turn: a file, the buildpack's commit, the stack image, a config var.
    await git.commit(work, "one.txt", "1\n", "a file");
    expect(built((await push()).stderr)).toBe(true);

    await writeFile(path.join(bpDir, "NOTE"), "changed\n");
    await git.ok(["add", "-A"], bpDir);
    await git.ok(["commit", "-q", "-m", "buildpack change"], bpDir);
    await git.ok(["commit", "-q", "--allow-empty", "-m", "same tree, new buildpack"], work);
    const bpChanged = await push();
    expect(bpChanged.code, bpChanged.stderr).toBe(0);
    expect(built(bpChanged.stderr)).toBe(true);

    rebuildStack();
    await git.ok(["commit", "-q", "--allow-empty", "-m", "same tree, new stack"], work);
    expect(built((await push()).stderr)).toBe(true);

    expect((await server.api("PATCH", "/api/apps/reuse/config-vars", { GREETING: "hello" })).status).toBe(200);
    await git.ok(["commit", "-q", "--allow-empty", "-m", "same tree, new config"], work);
    expect(built((await push()).stderr)).toBe(true);

    // Nothing changed since: reused again.
    await git.ok(["commit", "-q", "--allow-empty", "-m", "again"], work);
    expect((await push()).stderr).toContain("Reusing slug");
  });

  it("push options: rebuild, clear-cache, dry-run, and an unknown one refused", async () => {
    await git.ok(["commit", "-q", "--allow-empty", "-m", "rebuild"], work);
    const rebuild = await push(["-o", "rebuild"]);
    expect(rebuild.code, rebuild.stderr).toBe(0);
    expect(built(rebuild.stderr)).toBe(true);
    expect(rebuild.stderr).not.toContain("Cache count was 0");

    await git.ok(["commit", "-q", "--allow-empty", "-m", "clear"], work);
    const clear = await push(["-o", "clear-cache", "-o", "rebuild"]);
    expect(clear.code, clear.stderr).toBe(0);
    expect(clear.stderr).toContain("Cache count was 0");

    const before = await releases();
    const head = await git.ok(["ls-remote", server.url("reuse"), "refs/heads/main"], work);
    await git.commit(work, "dry.txt", "dry\n", "dry run");
    const dry = await push(["-o", "dry-run"]);
    expect(dry.code).not.toBe(0);
    expect(built(dry.stderr)).toBe(true);
    const lines = dry.stderr.split("\n").filter((l) => l.startsWith("remote: !"));
    expect(lines.at(-1)).toMatch(/DRY_RUN: the build succeeded and made slug sha256:[0-9a-f]{64}, but this was a dry run: nothing was released and main did not move/);
    expect(await releases()).toEqual(before);
    expect(await git.ok(["ls-remote", server.url("reuse"), "refs/heads/main"], work)).toBe(head);

    const bogus = await push(["-o", "deploy-faster"]);
    expect(bogus.code).not.toBe(0);
    expect(bogus.stderr).toContain('PUSH_OPTION_INVALID: unknown push option "deploy-faster"; slugforge knows -o rebuild');
    expect(bogus.stderr).toContain("-o clear-cache");
    expect(bogus.stderr).toContain("-o dry-run");
    expect(await releases()).toEqual(before);
  });
});
