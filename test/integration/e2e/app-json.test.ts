import { chmod, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GitClient, lastRemoteLine } from "../../helpers/git-client.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";
import { startServer, type RunningServer } from "./server.js";

/*
 * Heroku's app.json, pushed for real: buildpacks (after BUILDPACK_URL and .buildpacks), env for a
 * new app (value, generator secret, required), stack checked against ours, scripts.postdeploy
 * once after the first release, the rest noted, a malformed file refused. Each app here is its
 * own, so each test's first push is its app's first build. The buildpacks are a few lines of
 * shell, so a push costs a container and no downloads.
 */
const dirs = tmpDirs();
let server: RunningServer;
let git: GitClient;
let packs: { appJson: string; other: string };

beforeAll(async () => {
  git = new GitClient(await dirs.make("sf-appjson-home-"));
  packs = { appJson: await shellBuildpack("AppJsonPack"), other: await shellBuildpack("OtherPack") };
  server = await startServer(await dirs.make("sf-appjson-data-"), { SLUGFORGE_RELEASE_TIMEOUT: "30s" });
}, 120_000);
afterAll(async () => {
  await server?.close();
  await dirs.cleanup();
});

/**
 * A buildpack repo that accepts any app, prints each config var it sees in ENV_DIR (values of 6+
 * characters come out masked), and writes its name into the slug.
 */
async function shellBuildpack(name: string): Promise<string> {
  const dir = await dirs.make(`sf-appjson-bp-${name.toLowerCase()}-`);
  await mkdir(path.join(dir, "bin"));
  const scripts: Record<string, string> = {
    detect: `echo "${name}"`,
    compile: [
      `echo "-----> ${name} compiling"`,
      'for f in "$3"/*; do [[ -e "$f" ]] || continue; echo "       saw $(basename "$f")=$(cat "$f")"; done',
      `echo "${name}" > "$1/built-by"`,
    ].join("\n"),
    release: "printf -- '---\\ndefault_process_types:\\n  web: sleep 1000\\n'",
  };
  for (const [file, body] of Object.entries(scripts)) {
    const p = path.join(dir, "bin", file);
    await writeFile(p, `#!/usr/bin/env bash\n# Test buildpack (app.json tests). Usage: bin/${file} BUILD_DIR [CACHE_DIR ENV_DIR]\nset -euo pipefail\n${body}\n`);
    await chmod(p, 0o755);
  }
  await git.ok(["init", "-q", "-b", "main"], dir);
  await git.ok(["add", "-A"], dir);
  await git.ok(["commit", "-q", "-m", name], dir);
  return `file://${dir}`;
}

/** A work tree whose first commit is this app.json (and any other files). */
async function appWith(manifest: unknown, files: Record<string, string> = {}): Promise<string> {
  const work = await dirs.make("sf-appjson-app-");
  await git.initRepo(work);
  for (const [file, content] of Object.entries(files)) await writeFile(path.join(work, file), content);
  await git.commit(work, "app.json", typeof manifest === "string" ? manifest : JSON.stringify(manifest, null, 2), "app.json");
  return work;
}

const push = (app: string, work: string) => git.run(["push", server.url(app), "main"], work);
const configVars = async (app: string) => (await server.api<Record<string, string>>("GET", `/api/apps/${app}/config-vars`)).body;
const releases = async (app: string) => (await server.api<{ version: number }[]>("GET", `/api/apps/${app}/releases`)).body.map((r) => r.version);

describe("app.json", () => {
  it("names the buildpacks when the app names none by BUILDPACK_URL or .buildpacks", async () => {
    const work = await appWith({ buildpacks: [{ url: packs.appJson }] });
    const first = await push("aj-buildpacks", work);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain("AppJsonPack app detected");
    // .buildpacks comes first, as Heroku orders them.
    await git.commit(work, ".buildpacks", `${packs.other}\n`, ".buildpacks");
    const second = await push("aj-buildpacks", work);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain("OtherPack app detected");
    expect(second.stderr).not.toContain("AppJsonPack app detected");
  });

  it("env gives a new app its value defaults, seen by the build and kept as config vars; vars already set stay", async () => {
    expect((await server.api("POST", "/api/apps", { name: "aj-env" })).status).toBe(201);
    expect((await server.api("PATCH", "/api/apps/aj-env/config-vars", { MINE: "set" })).status).toBe(200);
    const work = await appWith({ buildpacks: [{ url: packs.appJson }], env: { GREETING: { value: "hi" }, SHORT: "yo", MINE: { value: "theirs" } } });
    const first = await push("aj-env", work);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain("app.json: set config vars of the new app: GREETING, SHORT");
    expect(first.stderr).toContain("saw GREETING=hi");
    expect(first.stderr).toContain("saw MINE=set");
    expect(await configVars("aj-env")).toEqual({ MINE: "set", GREETING: "hi", SHORT: "yo" });
    const activity = (await server.api<{ action: string; actor: string; detail: string }[]>("GET", "/api/apps/aj-env/activity")).body;
    expect(activity).toContainEqual(expect.objectContaining({ action: "config", actor: "admin", detail: "Set GREETING, SHORT config vars from app.json" }));
    // Only a new app gets app.json's env: a later push changes no config var.
    await git.commit(work, "app.json", JSON.stringify({ buildpacks: [{ url: packs.appJson }], env: { GREETING: { value: "hey" }, LATER: "x" } }), "new env");
    const second = await push("aj-env", work);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).not.toContain("app.json: set config vars");
    expect(await configVars("aj-env")).toEqual({ MINE: "set", GREETING: "hi", SHORT: "yo" });
  });

  it("a required var the new app lacks refuses the push with what to run; once set, the push builds", async () => {
    const work = await appWith({ buildpacks: [{ url: packs.appJson }], env: { API_KEY: { description: "the payment key" }, GREETING: "hi" } });
    const refused = await push("aj-required", work);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("app.json requires config var this app does not have: API_KEY (the payment key). Set it with `slugforge config:set aj-required API_KEY=…` and push again.");
    expect(lastRemoteLine(refused.stderr)).toMatch(/CONFIG_REQUIRED: app\.json requires .* \(build [0-9a-f-]+\)$/);
    // Nothing kept: no config var set, no release, the branch did not move.
    expect(await configVars("aj-required")).toEqual({});
    expect(await releases("aj-required")).toEqual([]);
    expect(await git.ok(["ls-remote", server.url("aj-required"), "refs/heads/main"], work)).toBe("");
    expect((await server.api("PATCH", "/api/apps/aj-required/config-vars", { API_KEY: "k1" })).status).toBe(200);
    const accepted = await push("aj-required", work);
    expect(accepted.code, accepted.stderr).toBe(0);
    expect(accepted.stderr).toContain("saw API_KEY=k1");
    expect(await configVars("aj-required")).toEqual({ API_KEY: "k1", GREETING: "hi" });
    expect(await releases("aj-required")).toEqual([1]);
  });

  it('generator "secret" makes a random value once, masked in the output; a later push keeps it', async () => {
    const work = await appWith({ buildpacks: [{ url: packs.appJson }], env: { SECRET_KEY: { generator: "secret" } } });
    const first = await push("aj-secret", work);
    expect(first.code, first.stderr).toBe(0);
    const secret = (await configVars("aj-secret")).SECRET_KEY;
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    expect(first.stderr).toContain("saw SECRET_KEY=****");
    expect(first.stderr).not.toContain(secret);
    await git.commit(work, "CHANGE", "1\n", "a change");
    const second = await push("aj-secret", work);
    expect(second.code, second.stderr).toBe(0);
    expect((await configVars("aj-secret")).SECRET_KEY).toBe(secret);
  });

  it("a dry run of a new app gives its build app.json's vars and keeps none", async () => {
    const work = await appWith({ buildpacks: [{ url: packs.appJson }], env: { GREETING: "hi", SECRET_KEY: { generator: "secret" } } });
    const dry = await git.run(["push", "-o", "dry-run", server.url("aj-dry"), "main"], work);
    expect(dry.code).not.toBe(0);
    expect(dry.stderr).toContain("app.json: config vars for this dry run only (not kept): GREETING, SECRET_KEY");
    expect(dry.stderr).toContain("saw GREETING=hi");
    expect(lastRemoteLine(dry.stderr)).toMatch(/DRY_RUN/);
    expect(await configVars("aj-dry")).toEqual({});
  });

  it("a stack that is not ours is noted, and the app builds on ours", async () => {
    const work = await appWith({ buildpacks: [{ url: packs.appJson }], stack: "heroku-22" });
    const other = await push("aj-stack", work);
    expect(other.code, other.stderr).toBe(0);
    expect(other.stderr).toContain('app.json: stack "heroku-22" is not this server\'s stack (debian-13); building on debian-13');
    await git.commit(work, "app.json", JSON.stringify({ buildpacks: [{ url: packs.appJson }], stack: "debian-13" }), "our stack");
    const ours = await push("aj-stack", work);
    expect(ours.code, ours.stderr).toBe(0);
    expect(ours.stderr).not.toContain("app.json: stack");
  });

  it("scripts.postdeploy runs once, as a one-off process of the first release, its output in the push", async () => {
    const postdeploy = 'echo "seeding as $(id -un) in $PWD, built by $(cat built-by), greeting $GREETING"';
    const work = await appWith({ buildpacks: [{ url: packs.appJson }], env: { GREETING: "hi" }, scripts: { postdeploy } });
    const first = await push("aj-postdeploy", work);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain(`Running app.json postdeploy script: ${postdeploy}`);
    expect(first.stderr).toContain("seeding as slug in /app, built by AppJsonPack, greeting hi");
    expect(first.stderr).toContain("Postdeploy script done");
    expect(first.stderr.indexOf("Released v1")).toBeLessThan(first.stderr.indexOf("Running app.json postdeploy"));
    await git.commit(work, "CHANGE", "1\n", "a change");
    const second = await push("aj-postdeploy", work);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain("Released v2");
    expect(second.stderr).not.toContain("Running app.json postdeploy");
    expect(second.stderr).not.toContain("seeding as");
  });

  it("a failing postdeploy is reported and the first release stands", async () => {
    const work = await appWith({ buildpacks: [{ url: packs.appJson }], scripts: { postdeploy: "echo 'seed failed' >&2; exit 3" } });
    const pushed = await push("aj-postfail", work);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.stderr).toContain("seed failed");
    expect(pushed.stderr).toContain("app.json postdeploy exited with 3; v1 is released all the same.");
    expect(await releases("aj-postfail")).toEqual([1]);
    expect(await git.ok(["ls-remote", server.url("aj-postfail"), "refs/heads/main"], work)).not.toBe("");
  });

  it("keys it does not use are ignored with one note", async () => {
    const work = await appWith({
      name: "demo",
      description: "a demo",
      addons: ["heroku-postgresql"],
      formation: { web: { quantity: 1 } },
      buildpacks: [{ url: packs.appJson }],
      scripts: { "pr-predestroy": "./clean" },
    });
    const pushed = await push("aj-unknown", work);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.stderr).toContain("app.json: ignoring name, description, addons, formation, scripts.pr-predestroy (not used by this build server)");
  });

  it("a malformed app.json refuses the push with what is wrong and where", async () => {
    const work = await appWith('{\n  "buildpacks": [{"url": "heroku/python"}],\n  "env": {\n}\n', { ".buildpacks": `${packs.appJson}\n` });
    const notJson = await push("aj-malformed", work);
    expect(notJson.code).not.toBe(0);
    expect(notJson.stderr).toMatch(/app\.json: not valid JSON \(.* at line 5, column 1\)/);
    expect(lastRemoteLine(notJson.stderr)).toMatch(/APP_JSON_INVALID: app\.json: not valid JSON .* \(build [0-9a-f-]+\)$/);
    await git.commit(work, "app.json", JSON.stringify({ env: { SECRET_KEY: { generator: "uuid" } }, buildpacks: "heroku/python" }), "wrong types");
    const wrongTypes = await push("aj-malformed", work);
    expect(wrongTypes.code).not.toBe(0);
    expect(wrongTypes.stderr).toContain('app.json: buildpacks must be an array of objects with a "url"');
    expect(wrongTypes.stderr).toContain('app.json: env.SECRET_KEY.generator must be "secret"');
    expect(await releases("aj-malformed")).toEqual([]);
  });
});
