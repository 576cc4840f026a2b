import { chmod, cp } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDockerRuntime } from "../../../src/docker/dockerode-runtime.js";
import { buildServerImage, type ServerImage } from "../../../src/stack/server-image.js";
import { runChecked, runProcess } from "../../../src/util/run-process.js";
import { GitClient } from "../../helpers/git-client.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";

// slugforge as the README's "Run as a container" runs it: its own image (built by the code behind
// `npm run image`), the host's engine through the mounted socket, the data folder a named volume,
// uid 1000 with the socket's group. Buildpacks come from root-owned git repos mounted read-only.
const REPO = path.resolve(import.meta.dirname, "../../..");
const ID = randomBytes(4).toString("hex");
const TAG = `slugforge/server:test-${ID}`;
const NAME = `slugforge-test-server-${ID}`;
const VOLUME = `slugforge-test-data-${ID}`;
const LABEL = "org.slugforge.test=server-image";
const TOKEN = `container-token-${ID}`;
const runtime = createDockerRuntime();
const dirs = tmpDirs();
let git: GitClient;
let bpRoot: string;
let image: ServerImage;
const said: string[] = [];

const docker = (args: string[]) => runProcess("docker", args, { timeoutMs: 120_000 });

async function buildpackRepo(name: string): Promise<void> {
  const dir = path.join(bpRoot, name);
  await cp(path.join(REPO, "test/fixtures/buildpacks", name), dir, { recursive: true });
  await git.ok(["init", "-q", "-b", "main"], dir);
  await git.ok(["add", "-A"], dir);
  await git.ok(["commit", "-q", "-m", name], dir);
}

async function appRepo(buildpack: string, files: Record<string, string>): Promise<string> {
  const dir = await dirs.make("sf-ctr-app-");
  await git.initRepo(dir);
  await git.commit(dir, ".buildpacks", `file:///buildpacks/${buildpack}\n`, "buildpack");
  for (const [file, content] of Object.entries(files)) await git.commit(dir, file, content, file);
  return dir;
}

beforeAll(async () => {
  // The image carries dist/: make sure it is the code under test.
  await runChecked("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: REPO });
  git = new GitClient(await dirs.make("sf-ctr-home-"));
  bpRoot = await dirs.make("sf-ctr-bp-");
  await chmod(bpRoot, 0o755);
  for (const name of ["cacher", "slow"]) await buildpackRepo(name);
  image = await buildServerImage({
    runtime,
    repoDir: REPO,
    // Where `npm run image` (and the stack images' setup) keep Debian's packages between runs.
    workDir: path.join(REPO, ".slugforge", "stack"),
    say: (line) => said.push(line),
    onBuildLine: () => undefined,
    tags: [TAG],
  });
}, 900_000);

afterAll(async () => {
  await docker(["rm", "-f", NAME]);
  await docker(["volume", "rm", "-f", VOLUME]);
  // The test's image goes; the Debian-made base (shared, labelled) stays for the next build.
  await runtime.removeImage(TAG);
  await dirs.cleanup();
}, 120_000);

describe("slugforge in its own container (real Docker)", () => {
  it("builds pushes through the host's engine, keeps caches in tar mode, and stops cleanly letting a running build finish", async () => {
    expect(image.tags).toEqual([TAG]);
    expect(image.image.labels["org.slugforge.role"]).toBe("server");
    const inspected = JSON.parse((await runChecked("docker", ["image", "inspect", TAG])).stdout) as [
      { Config: { User: string; StopSignal?: string; Healthcheck?: { Test: string[] }; Volumes?: Record<string, unknown> } },
    ];
    const config = inspected[0].Config;
    expect(config.User).toBe("1000:1000");
    expect(config.StopSignal).toBe("SIGTERM");
    expect(config.Volumes).toHaveProperty("/data");
    expect(config.Healthcheck?.Test[0]).toBe("CMD");

    const socketGroup = (await runChecked("stat", ["-c", "%g", "/var/run/docker.sock"])).stdout.trim();
    await runChecked("docker", [
      "run", "-d", "--name", NAME, "--label", LABEL, "--init", "--stop-timeout", "90",
      "-p", "127.0.0.1::5000",
      "-v", "/var/run/docker.sock:/var/run/docker.sock", "--group-add", socketGroup,
      "-v", `${VOLUME}:/data`,
      "-v", `${bpRoot}:/buildpacks:ro`,
      "-e", `SLUGFORGE_TOKEN=${TOKEN}`,
      "-e", "SLUGFORGE_BUILD_NETWORK=none",
      "-e", "SLUGFORGE_BUILDPACK_ROOTS=/buildpacks",
      "-e", "SLUGFORGE_BUILD_MEMORY=512MiB",
      // Release images are tested on their own (test/integration/images); these would stay in the shared engine.
      "-e", "SLUGFORGE_IMAGES=off",
      TAG,
    ]);
    const port = (await runChecked("docker", ["port", NAME, "5000/tcp"])).stdout.trim().split("\n")[0]!.split(":").pop();
    const base = `http://127.0.0.1:${port}`;
    let healthy = false;
    for (let i = 0; i < 300 && !healthy; i++) {
      healthy = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(5000) }).then(async (r) => (await r.text(), r.ok), () => false);
      if (!healthy) await sleep(200);
    }
    const logs = async (): Promise<string> => {
      const r = await docker(["logs", NAME]);
      return r.stdout + r.stderr;
    };
    expect(healthy, await logs()).toBe(true);
    // The image's own health check answers too.
    expect((await docker(["exec", NAME, ...config.Healthcheck!.Test.slice(1)])).code).toBe(0);
    expect(await logs()).toContain("build caches: tar mode");
    // The dashboard's files came along: its sign-in page answers.
    const page = await fetch(`${base}/`, { signal: AbortSignal.timeout(30_000) });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("<html");

    const url = (app: string): string => `http://git:${TOKEN}@127.0.0.1:${port}/${app}.git`;
    const work = await appRepo("cacher", { CACHE: "one\n" });
    const first = await git.run(["push", url("boxed"), "main"], work);
    expect(first.code, `${first.stderr}\n${await logs()}`).toBe(0);
    expect(first.stderr).toContain("Cache count was 0");
    expect(first.stderr).toContain("Released v1");
    await git.commit(work, "CACHE", "two\n", "again");
    const second = await git.run(["push", url("boxed"), "main"], work);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain("Cache count was 1");
    expect(second.stderr).toContain("cache and app can be hard-linked");
    const releases = (await (await fetch(`${base}/api/apps/boxed/releases`, { headers: { Authorization: `Bearer ${TOKEN}` }, signal: AbortSignal.timeout(30_000) })).json()) as { version: number }[];
    expect(releases.map((r) => r.version).sort()).toEqual([1, 2]);

    // docker stop while a build runs: the build finishes, its push is accepted, the server exits 0.
    const slowWork = await appRepo("slow", { SLOW: "6\n" });
    const push = git.spawnTimed(["push", url("boxed-slow"), "main"], slowWork);
    const deadline = Date.now() + 120_000;
    while (!push.lines.some((l) => l.text.includes("Starting slow compile"))) {
      if (Date.now() > deadline) throw new Error(`the slow build never started:\n${push.lines.map((l) => l.text).join("\n")}`);
      await sleep(50);
    }
    const stopped = docker(["stop", NAME]);
    const pushed = await push.done;
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.stderr).toContain("Slow compile done");
    expect(pushed.stderr).toContain("Released v1");
    expect((await stopped).code).toBe(0);
    const state = JSON.parse((await runChecked("docker", ["inspect", "-f", "{{json .State}}", NAME])).stdout) as { ExitCode: number; Running: boolean };
    expect(state).toMatchObject({ Running: false, ExitCode: 0 });
    const log = await logs();
    expect(log).toContain("stopping: no new pushes; running builds may finish");
    expect(log).toContain("stopped");
    // Every container it made is gone with it.
    for (const app of ["boxed", "boxed-slow"]) expect(await runtime.listContainers(`org.slugforge.app=${app}`)).toEqual([]);
  }, 600_000);
});
