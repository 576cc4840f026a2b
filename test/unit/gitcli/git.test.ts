import { afterEach, beforeEach, expect, it } from "vitest";
import { gitArgs, gitEnv, runGit, runGitChecked, spawnGit } from "../../../src/gitcli/git.js";
import { processGroupAlive } from "../../../src/util/process-group.js";
import { until } from "../../helpers/until.js";

const saved = { SLUGFORGE_TOKEN: process.env.SLUGFORGE_TOKEN, SSH_AUTH_SOCK: process.env.SSH_AUTH_SOCK };
beforeEach(() => {
  process.env.SLUGFORGE_TOKEN = "secret-admin-token";
  process.env.SSH_AUTH_SOCK = "/tmp/agent.sock";
});
afterEach(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

it("gives git PATH, HOME, no system config, no prompts and one locale, and none of this process's other variables", () => {
  const env = gitEnv();
  expect(Object.keys(env).sort()).toEqual(["GIT_CONFIG_NOSYSTEM", "GIT_TERMINAL_PROMPT", "HOME", "LANG", "PATH"]);
  expect(env).toMatchObject({ PATH: process.env.PATH, GIT_CONFIG_NOSYSTEM: "1", GIT_TERMINAL_PROMPT: "0", LANG: "C.UTF-8" });
});

it("adds only the caller's explicit extras and the variables it names", () => {
  const env = gitEnv({ GIT_PROTOCOL: "version=2", GIT_DIR: undefined }, ["SSH_AUTH_SOCK", "NOT_SET_ANYWHERE"]);
  expect(env.GIT_PROTOCOL).toBe("version=2");
  expect(env.SSH_AUTH_SOCK).toBe("/tmp/agent.sock");
  expect("GIT_DIR" in env || "NOT_SET_ANYWHERE" in env || "SLUGFORGE_TOKEN" in env).toBe(false);
});

it("puts -c settings before the command", () => {
  expect(gitArgs(["gc", "--auto"], { "gc.autoDetach": "false", "gc.autoPackLimit": "3" })).toEqual([
    "-c", "gc.autoDetach=false", "-c", "gc.autoPackLimit=3", "gc", "--auto",
  ]);
});

it("runs git with that environment: the server's secrets never reach it", async () => {
  const r = await runGit(["var", "GIT_EDITOR"], { env: { GIT_EDITOR: "from-the-caller" } });
  expect(r.stdout.trim()).toBe("from-the-caller");
  const shown = await runGit(["-c", "alias.env=!env", "env"]);
  expect(shown.stdout).not.toContain("SLUGFORGE_TOKEN");
  expect(shown.stdout).toContain("GIT_CONFIG_NOSYSTEM=1");
  await expect(runGitChecked(["rev-parse", "--verify", "no-such-thing"], { cwd: "/" })).rejects.toThrow(/exited with 128/);
});

it("starts the streaming form in its own process group, which an aborted signal stops", async () => {
  const abort = new AbortController();
  const child = spawnGit(["-c", "alias.wait=!sleep 30", "wait"], { signal: abort.signal });
  const closed = new Promise((resolve) => child.on("close", resolve));
  await until(() => child.pid !== undefined && processGroupAlive(child.pid));
  abort.abort();
  await closed;
  // The alias's shell and its sleep went with git.
  await until(() => !processGroupAlive(child.pid!), 5000);
});
