import { afterEach, beforeEach, expect, it, vi } from "vitest";
import type { ApiClient } from "../../../src/cli/api-client.js";
import { API_COMMANDS, CommandError, type CommandIO } from "../../../src/cli/api-commands.js";
import { createStyle, PLAIN, type Style } from "../../../src/cli/style.js";

const NOW = Date.parse("2024-06-15T12:00:00Z");
const ago = (seconds: number): string => new Date(NOW - seconds * 1000).toISOString();
const SLUG = `sha256:ab12cd34ef56${"7".repeat(52)}`;

/** An API that answers GETs from a table of paths. */
function fakeApi(answers: Record<string, unknown>): ApiClient {
  return {
    get: async <T>(path: string) => {
      if (!(path in answers)) throw new Error(`unexpected GET ${path}`);
      return structuredClone(answers[path]) as T;
    },
    send: async () => {
      throw new Error("no writes here");
    },
    stream: async () => {
      throw new Error("no streams here");
    },
    sendWithStatus: async () => {
      throw new Error("no writes here");
    },
  };
}

async function run(name: string, args: string[], answers: Record<string, unknown>, options: { json?: boolean; style?: Style } = {}): Promise<string> {
  const lines: string[] = [];
  const io: CommandIO = { out: (t) => lines.push(t), raw: process.stdout, json: options.json ?? false, flags: {}, style: options.style ?? PLAIN };
  expect(await API_COMMANDS[name]!.run(fakeApi(answers), args, io)).toBe(0);
  return lines.join("\n");
}

const releases = [
  { app: "web1", version: 3, slugId: SLUG, config: {}, processTypes: { web: "python app.py" }, description: "Rollback to v1", createdAt: ago(180) },
  { app: "web1", version: 2, slugId: SLUG, config: {}, processTypes: { web: "python app.py" }, description: "Set GREETING config vars", createdAt: ago(2 * 86_400) },
];

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(NOW);
});
afterEach(() => vi.useRealTimers());

it("lists releases as `heroku releases` does: version, description, short slug, how long ago", async () => {
  const text = await run("releases", ["web1"], { "/api/apps/web1/releases": releases });
  expect(text.split("\n")).toEqual([
    "Release  Description               Slug                  Image  Created",
    "v3       Rollback to v1            sha256:ab12cd34ef56…         3 minutes ago",
    "v2       Set GREETING config vars  sha256:ab12cd34ef56…         2 days ago",
  ]);
});

it("keeps --json as it was: the API's records with the same added fields, full ids and ISO times", async () => {
  const json = JSON.parse(await run("releases", ["web1"], { "/api/apps/web1/releases": releases }, { json: true })) as unknown;
  expect(json).toEqual(releases.map((r) => ({ ...r, release: `v${r.version}`, slug: "ab12cd34ef56" })));
  const slug = { id: SLUG, app: "web1", sizeBytes: 14 * 1024 ** 2, commit: "1a2b3c4d5e6f", buildpacks: [], stack: "debian-13", processTypes: {}, createdAt: ago(60) };
  const slugs = JSON.parse(await run("slugs", ["web1"], { "/api/apps/web1/slugs": [slug] }, { json: true })) as unknown;
  expect(slugs).toEqual([{ ...slug, short: "ab12cd34ef56", commit: "1a2b3c4", size: slug.sizeBytes }]);
  // No colour codes in JSON, even when the style would colour.
  expect(await run("apps", [], { "/api/apps": [{ name: "web1", createdAt: ago(5) }] }, { json: true })).not.toContain("\x1b");
});

it("shows slug sizes in MB and KB, and builds with their status in colour on a terminal", async () => {
  const slug = (size: number) => ({ id: SLUG, app: "web1", sizeBytes: size, commit: "1a2b3c4d5e6f", buildpacks: [], stack: "debian-13", processTypes: {}, createdAt: ago(3600) });
  const text = await run("slugs", ["web1"], { "/api/apps/web1/slugs": [slug(14 * 1024 ** 2), slug(740 * 1024)] });
  expect(text.split("\n")).toEqual([
    "Slug                  Size     Commit   Stack      Created",
    "sha256:ab12cd34ef56…  14.0 MB  1a2b3c4  debian-13  1 hour ago",
    "sha256:ab12cd34ef56…  740 KB   1a2b3c4  debian-13  1 hour ago",
  ]);
  const build = { id: "b-1", app: "web1", commit: "1a2b3c4d5e6f", status: "failed", errorCode: "COMPILE_FAILED", actor: "admin", node: "node-a", createdAt: ago(30) };
  const on = createStyle(true);
  const builds = await run("builds", ["web1"], { "/api/apps/web1/builds": [build] }, { style: on });
  expect(builds).toContain(on.bold("Status"));
  expect(builds).toContain(`${on.red("failed")}  1a2b3c4  admin  node-a  30 seconds ago  ${on.red("COMPILE_FAILED")}`);
});

it("prints config vars as Heroku's key-value block, and tokens with times in words", async () => {
  expect(await run("config", ["web1"], { "/api/apps/web1/config-vars": { GREETING: "hi", DATABASE_URL: "postgres://db" } })).toBe(
    ["=== web1 Config Vars", "GREETING:     hi", "DATABASE_URL: postgres://db"].join("\n"),
  );
  const tokens = [{ id: "t1", app: "web1", scope: "deploy", createdAt: ago(7200), lastUsedAt: null, revokedAt: ago(60) }];
  expect((await run("tokens", [], { "/api/tokens": tokens })).split("\n")).toEqual([
    "Token  App   Scope   Created      Last used  Revoked",
    "t1     web1  deploy  2 hours ago  never      1 minute ago",
  ]);
});

it("open: the current release's slug and the preview command; no image yet, so no docker command", async () => {
  for (const image of [undefined, null]) {
    const text = await run("open", ["web1"], { "/api/apps/web1/releases": [releases[1], { ...releases[0], image }] });
    expect(text).toContain("=== web1 v3");
    expect(text).toContain(`Slug:    ${SLUG}`);
    expect(text).toContain("Image:   none");
    expect(text).toContain("  slugforge run web1 web --port 8080");
    expect(text).not.toContain("docker run");
  }
});

it("open: a release with an image gets the docker command as well; --json has both", async () => {
  const image = { name: "slugforge/web1:v3", digest: `sha256:${"e".repeat(64)}` };
  const answers = { "/api/apps/web1/releases": [{ ...releases[0], image }] };
  const text = await run("open", ["web1"], answers);
  expect(text).toContain(`Image:   slugforge/web1:v3 (${image.digest})`);
  expect(text).toContain("  docker run --rm -p 8080:5000 slugforge/web1:v3 web");
  expect(text).toContain("  slugforge run web1 web --port 8080");
  expect(JSON.parse(await run("open", ["web1"], answers, { json: true }))).toEqual({
    app: "web1",
    version: 3,
    description: "Rollback to v1",
    createdAt: releases[0]!.createdAt,
    slugId: SLUG,
    image,
    process: "web",
    preview: "slugforge run web1 web --port 8080",
    docker: "docker run --rm -p 8080:5000 slugforge/web1:v3 web",
  });
});

it("open: a release without a web process runs its first one, without a port; no release is an error", async () => {
  const worker = { ...releases[0], processTypes: { worker: "python worker.py" }, image: { name: "img" } };
  const text = await run("open", ["web1"], { "/api/apps/web1/releases": [worker] });
  expect(text).toContain("Image:   img\n");
  expect(text).toContain("  docker run --rm img worker");
  expect(text).toMatch(/^ {2}slugforge run web1 worker$/m);
  const io: CommandIO = { out: () => {}, raw: process.stdout, json: false, flags: {}, style: PLAIN };
  await expect(API_COMMANDS.open!.run(fakeApi({ "/api/apps/web1/releases": [] }), ["web1"], io)).rejects.toThrow(CommandError);
});

it("lists the build engines: the primary marked, state, builds running, since when, the last error", async () => {
  const rows = [
    { url: "unix:///var/run/docker.sock", primary: true, state: "up", running: 2, since: ago(3600), lastError: null },
    { url: "unix:///run/engine2.sock", primary: false, state: "down", running: 0, since: ago(120), lastError: "connect ENOENT /run/engine2.sock" },
  ];
  const text = await run("engines", [], { "/api/engines": rows });
  expect(text.split("\n")).toEqual([
    "Engine                                 State  Running  Since          Last error",
    "unix:///var/run/docker.sock (primary)  up     2        1 hour ago",
    "unix:///run/engine2.sock               down   0        2 minutes ago  connect ENOENT /run/engine2.sock",
  ]);
  expect(JSON.parse(await run("engines", [], { "/api/engines": rows }, { json: true }))).toEqual(rows);
});
