import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GitClient } from "../../helpers/git-client.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";
import { buildpackRepo, startServer, type RunningServer } from "./server.js";

const dirs = tmpDirs();
let server: RunningServer;
let git: GitClient;
let leakerUrl: string;

const APP_SECRET = "sk_live_4f9a8b7c6d5e";
const OPERATOR_SECRET = "operator-pass-2f4e";

beforeAll(async () => {
  git = new GitClient(await dirs.make("sf-e2e-home-"));
  server = await startServer(await dirs.make("sf-e2e-data-"), { SLUGFORGE_BUILD_CONFIG_VARS: JSON.stringify({ OPERATOR_TOKEN: OPERATOR_SECRET }) });
  leakerUrl = await buildpackRepo(git, "leaker", await dirs.make("sf-bp-leaker-"));
});
afterAll(async () => {
  await server?.close();
  await dirs.cleanup();
});

describe("secrets in build output, with a real engine", () => {
  it("a buildpack that prints config var values shows **** to the pusher and in the stored output", async () => {
    expect((await server.api("POST", "/api/apps", { name: "masked" })).status).toBe(201);
    await server.api("PATCH", "/api/apps/masked/config-vars", { BUILDPACK_URL: leakerUrl, API_KEY: APP_SECRET, SHORT: "abc" });
    const work = await dirs.make("sf-e2e-masked-");
    await git.initRepo(work);
    await git.commit(work, "LEAK", "\n", "leaker detects this");

    const push = await git.run(["push", server.url("masked"), "main"], work);
    expect(push.code, push.stderr).toBe(0);
    const builds = (await server.api<{ id: string }[]>("GET", "/api/apps/masked/builds")).body;
    const stored = (await server.api<string>("GET", `/api/builds/${builds[0]!.id}/output`)).body;

    for (const text of [push.stderr, stored]) {
      // (git pads the pusher's remote: lines with spaces.)
      expect(text).toMatch(/API_KEY=\*\*\*\* *\n/);
      expect(text).toMatch(/OPERATOR_TOKEN=\*\*\*\* *\n/);
      expect(text).toMatch(/to stderr: \*\*\*\* *\n/);
      // Printed in two writes half a second apart: the first five characters were held back, not sent.
      expect(text).toMatch(/split: \*\*\*\* \(done\) *\n/);
      expect(text).toMatch(/SHORT=abc *\n/);
      expect(text).toMatch(/BUILDPACK_URL=\*\*\*\* *\n/);
      expect(text).toContain("-----> Printed");
      expect(text).not.toContain(APP_SECRET.slice(0, 5));
      expect(text).not.toContain(APP_SECRET.slice(5));
      expect(text).not.toContain(OPERATOR_SECRET);
      expect(text).not.toContain(leakerUrl);
    }
  });
});
