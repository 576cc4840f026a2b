import { spawn } from "node:child_process";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RUN_LABEL } from "../../../src/runs/one-off.js";
import { createDockerRuntime } from "../../../src/docker/dockerode-runtime.js";
import { runChecked, runProcess } from "../../../src/util/run-process.js";
import { GitClient } from "../../helpers/git-client.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";
import { appRepo, E2E_TOKEN, startServer, type RunningServer } from "./server.js";

/*
 * `slugforge run`: a one-off process of a release through the server's API, the CLI holding no
 * Docker access: stdin, stdout and stderr over one connection, the exit code as the CLI's, a local
 * preview on a port until the CLI stops, and the container gone when the CLI goes.
 */
const REPO = path.resolve(import.meta.dirname, "../../..");
const BIN = path.join(REPO, "bin/slugforge.js");
const dirs = tmpDirs();
const runtime = createDockerRuntime();
let server: RunningServer;
// Its own name: another run of these tests on the same engine makes containers of its own app.
const APP = `runner-${process.pid}`;

const cli = (args: string[], stdin = "") =>
  runProcess(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME, SLUGFORGE_URL: server.base, SLUGFORGE_TOKEN: E2E_TOKEN }, stdin });

beforeAll(async () => {
  await runChecked("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: REPO });
  const git = new GitClient(await dirs.make("sf-run-home-"));
  server = await startServer(await dirs.make("sf-run-data-"));
  const work = await dirs.make("sf-run-app-");
  await appRepo(git, "python-stdlib", work);
  const pushed = await git.run(["push", server.url(APP), "main"], work);
  expect(pushed.code, pushed.stderr).toBe(0);
  expect((await server.api("PATCH", `/api/apps/${APP}/config-vars`, { GREETING: "hi" })).status).toBe(200);
}, 300_000);
afterAll(async () => {
  await server?.close();
  await dirs.cleanup();
});

describe("slugforge run", () => {
  it("streams stdin, stdout and stderr, gives the release's config vars, and exits with the command's code", async () => {
    const r = await cli(["run", APP, "--", "bash", "-c", 'cat; echo "greeting=$GREETING home=$HOME port=$PORT user=$(id -un)" ; echo oops >&2; exit 7'], "from stdin\n");
    expect(r.code).toBe(7);
    expect(r.stdout).toBe("from stdin\ngreeting=hi home=/app port=5000 user=slug\n");
    expect(r.stderr).toContain("oops");
  });

  it("runs a process type, an earlier release, and JSON lines", async () => {
    const v1 = await cli(["run", APP, "--release", "v1", "--json", "--", "bash", "-c", 'echo "greeting=${GREETING:-none}"']);
    expect(v1.code).toBe(0);
    const lines = v1.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual([{ stream: "stdout", data: "greeting=none\n" }, { exitCode: 0 }]);
    const missing = await cli(["run", APP, "--release", "v9", "--", "true"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`${APP} has no release v9`);
    const usage = await cli(["run", "runner"]);
    expect(usage.code).toBe(2);
  });

  it("serves a preview on a port until the CLI stops, and the container goes with it", async () => {
    // The earlier tests' containers are removed after their exit codes were answered: let them go.
    for (let i = 0; i < 100 && (await runtime.listContainers(`org.slugforge.app=${APP}`)).length > 0; i++) await sleep(100);
    const port = 20000 + Math.floor(Math.random() * 20000);
    const child = spawn(process.execPath, [BIN, "run", APP, "web", "--port", String(port)], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, SLUGFORGE_URL: server.base, SLUGFORGE_TOKEN: E2E_TOKEN },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let said = "";
    child.stdout.on("data", (b: Buffer) => (said += b.toString()));
    child.stderr.on("data", (b: Buffer) => (said += b.toString()));
    let page = "";
    for (let i = 0; i < 200 && !page; i++) {
      page = await fetch(`http://127.0.0.1:${port}/`).then((r) => (r.ok ? r.text() : ""), () => "");
      if (!page) await sleep(150);
    }
    expect(page, `${said} (exit ${child.exitCode} ${child.signalCode})`).toContain("hello from python-stdlib");
    expect(await runtime.listContainers(`org.slugforge.app=${APP}`)).toHaveLength(1);
    child.kill("SIGINT");
    await new Promise((r) => child.once("exit", r));
    for (let i = 0; i < 100 && (await runtime.listContainers(`org.slugforge.app=${APP}`)).length > 0; i++) await sleep(100);
    expect(await runtime.listContainers(`org.slugforge.app=${APP}`)).toEqual([]);
  });

  it("starts from the release's image when the engine holds it: /app is in place, nothing copied", async () => {
    const git = new GitClient(await dirs.make("sf-run-img-home-"));
    const app = `run-img-${process.pid}`;
    const imaged = await startServer(await dirs.make("sf-run-img-data-"), { SLUGFORGE_IMAGES: "on" });
    try {
      const work = await dirs.make("sf-run-img-app-");
      await appRepo(git, "python-stdlib", work);
      const pushed = await git.run(["push", imaged.url(app), "main"], work);
      expect(pushed.code, pushed.stderr).toBe(0);
      expect(pushed.stderr).toContain(`Image slugforge/app-${app}:v1`);
      const run = (args: string[]) =>
        runProcess(process.execPath, [BIN, "run", app, ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME, SLUGFORGE_URL: imaged.base, SLUGFORGE_TOKEN: E2E_TOKEN }, stdin: "in\n" });
      const running = run(["--", "bash", "-c", 'cat; echo "home=$HOME user=$(id -un)"; ls /app/app.py; touch /app/written; sleep 2; exit 3']);
      let image = "";
      for (let i = 0; i < 100 && !image; i++) {
        image = (await runProcess("docker", ["ps", "--filter", `label=org.slugforge.app=${app}`, "--filter", `label=${RUN_LABEL}=run v1`, "--format", "{{.Image}}"])).stdout.trim();
        if (!image) await sleep(100);
      }
      expect(image).toBe(`slugforge/app-${app}:v1`);
      const r = await running;
      expect(r.code, r.stderr).toBe(3);
      expect(r.stdout).toBe("in\nhome=/app user=slug\n/app/app.py\n");
    } finally {
      await imaged.close();
      for (let i = 0; i < 100 && (await runtime.listContainers(`org.slugforge.app=${app}`)).length > 0; i++) await sleep(100);
      // Loading tags the release and moves :latest: both go.
      for (const tag of ["v1", "latest"]) await runtime.removeImage(`slugforge/app-${app}:${tag}`).catch(() => undefined);
    }
  }, 300_000);
});
