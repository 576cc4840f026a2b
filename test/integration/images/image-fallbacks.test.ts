import { randomBytes } from "node:crypto";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runChecked, runProcess } from "../../../src/util/run-process.js";
import { GitClient } from "../../helpers/git-client.js";
import { createTestRegistry, freePort } from "../../helpers/registry.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";
import { until } from "../../helpers/until.js";
import { buildpackRepo, startServer, type RunningServer } from "../e2e/server.js";
import { cli, type Release } from "./cli.js";

/*
 * Release images without a registry (loaded into the engine as slugforge/app-<app>:vN), and with
 * one that does not answer: the push is accepted and says the image follows, the release exists
 * without it, it is retried in the background, and `slugforge releases:image` retries by hand.
 */
const dirs = tmpDirs();
const run = randomBytes(3).toString("hex");
const servers: RunningServer[] = [];
const images: string[] = [];
let git: GitClient;
let work: string;

beforeAll(async () => {
  git = new GitClient(await dirs.make("sf-imgf-home-"));
  work = await dirs.make("sf-imgf-app-");
  await git.initRepo(work);
  await git.commit(work, ".buildpacks", `${await buildpackRepo(git, "webapp", await dirs.make("sf-imgf-bp-"))}\n`, "buildpack");
  await git.commit(work, "Procfile", "web: perl server.pl\n", "Procfile");
  await git.commit(work, "index.txt", "a page\n", "index");
}, 120_000);
afterAll(async () => {
  for (const s of servers) await s.close();
  for (const ref of images) await runProcess("docker", ["rmi", "-f", ref]);
  await dirs.cleanup();
});

async function server(env: Record<string, string>, dataDir?: string): Promise<RunningServer> {
  const s = await startServer(dataDir ?? (await dirs.make("sf-imgf-data-")), { SLUGFORGE_IMAGES: "on", ...env });
  servers.push(s);
  return s;
}
const releases = async (s: RunningServer, app: string): Promise<Release[]> => (await s.api<Release[]>("GET", `/api/apps/${app}/releases`)).body;

describe("release images without a registry, and when the registry fails", () => {
  it("no registry: the image is loaded into the engine as slugforge/app-<app>:vN, and runs", async () => {
    const s = await server({});
    const app = `img-${run}`;
    const name = `slugforge/app-${app}:v1`;
    images.push(name, `slugforge/app-${app}:latest`);
    const result = await git.run(["push", s.url(app), "main"], work);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(new RegExp(`remote: -----> Image ${name} sha256:[0-9a-f]{64}`));
    expect(result.stderr).toContain(`Run it: docker run --rm -p 8080:5000 ${name}`);
    const [v1] = await releases(s, app);
    expect(v1!.image?.name).toBe(name);
    // Its digest is the image's id in the engine.
    const id = (await runChecked("docker", ["image", "inspect", "--format", "{{.Id}}", name])).stdout.trim();
    expect(id).toBe(v1!.image!.digest);
    expect((await runChecked("docker", ["image", "inspect", "--format", "{{.Id}}", `slugforge/app-${app}:latest`])).stdout.trim()).toBe(id);
    expect((await runChecked("docker", ["run", "--rm", name, "worker"])).stdout).toBe("worker worker.1 says hello from .profile.d\n");
    expect((await runChecked("docker", ["run", "--rm", name, "cat index.txt"])).stdout).toBe("a page\n");
  });

  it("a registry that does not answer: the release exists, the push says the image follows, it is retried until the registry is up", async () => {
    const port = await freePort();
    // First a registry that takes connections and never answers, then none at all, then a real one.
    const held: net.Socket[] = [];
    const silent = net.createServer((socket) => void held.push(socket));
    await new Promise<void>((resolve) => silent.listen(port, "127.0.0.1", () => resolve()));
    const s = await server({ SLUGFORGE_REGISTRY: `127.0.0.1:${port}/sf-${run}`, SLUGFORGE_REGISTRY_TIMEOUT: "2s", SLUGFORGE_IMAGE_RETRY: "1s" });
    const app = "flaky";
    const pushed = await git.run(["push", s.url(app), "main"], work);
    silent.close();
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.stderr).toMatch(/remote: -----> Image of v1 not made: REGISTRY_UNAVAILABLE: the registry at http:\/\/127\.0\.0\.1:\d+ did not answer within 2 s/);
    expect(pushed.stderr).toMatch(/remote: {8}The release is kept; its image is retried in the background \(next try in \d+ s\)/);
    expect(pushed.stderr).toContain(`remote:        Try now: slugforge releases:image ${app} v1`);
    const [v1] = await releases(s, app);
    expect(v1).toMatchObject({ version: 1, image: null, imageError: expect.stringContaining("did not answer") });

    for (const socket of held) socket.destroy();
    const changed = await s.api<{ release: Release }>("PATCH", `/api/apps/${app}/config-vars`, { GREETING: "hi" });
    expect(changed.status).toBe(200);
    expect(changed.body.release).toMatchObject({ version: 2, image: null, imageError: expect.stringContaining("does not answer") });
    const byHandDown = await cli(s, ["releases:image", app, "v2"]);
    expect(byHandDown.code).toBe(1);
    expect(byHandDown.err).toMatch(/error REGISTRY_UNAVAILABLE: the registry at http:\/\/127\.0\.0\.1:\d+ does not answer/);

    const registry = await createTestRegistry(await dirs.make("sf-imgf-registry-"), port);
    await registry.start();
    try {
      const byHand = await cli(s, ["releases:image", app, "v2"]);
      expect(byHand.code, byHand.err).toBe(0);
      expect(byHand.out).toMatch(new RegExp(`^127\\.0\\.0\\.1:${port}/sf-${run}/flaky:v2 sha256:[0-9a-f]{64}\\n$`));
      // v1 was left to the background: it gets there on its own.
      await until(async () => (await releases(s, app)).every((r) => r.image !== null), 30_000);
      const [v2, again1] = await releases(s, app);
      expect(again1).toMatchObject({ version: 1, imageError: null });
      // The same slug and process types: one image, tagged v1 and v2; latest stays on the newest.
      expect(again1!.image!.digest).toBe(v2!.image!.digest);
      const latest = await fetch(`http://127.0.0.1:${port}/v2/sf-${run}/flaky/manifests/latest`, { method: "HEAD", headers: { Accept: "application/vnd.oci.image.manifest.v1+json" } });
      expect(latest.headers.get("docker-content-digest")).toBe(v2!.image!.digest);
    } finally {
      await registry.stop();
    }
  });

  it("an image still failing when the server stops is made after its next start", async () => {
    const port = await freePort();
    const env = { SLUGFORGE_REGISTRY: `127.0.0.1:${port}/sf-${run}`, SLUGFORGE_IMAGE_RETRY: "1s" };
    const dataDir = await dirs.make("sf-imgf-restart-");
    const first = await server(env, dataDir);
    const pushed = await git.run(["push", first.url("later"), "main"], work);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.stderr).toContain("Image of v1 not made: REGISTRY_UNAVAILABLE");
    await first.close();
    servers.splice(servers.indexOf(first), 1);

    const registry = await createTestRegistry(await dirs.make("sf-imgf-registry-"), port);
    await registry.start();
    try {
      const second = await server(env, dataDir);
      await until(async () => (await releases(second, "later"))[0]?.image !== null, 30_000);
      expect((await releases(second, "later"))[0]).toMatchObject({ imageError: null, image: { name: `127.0.0.1:${port}/sf-${run}/later:v1` } });
    } finally {
      await registry.stop();
    }
  });
});
