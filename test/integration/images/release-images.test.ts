import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runChecked, runProcess } from "../../../src/util/run-process.js";
import { GitClient } from "../../helpers/git-client.js";
import { createTestRegistry, type TestRegistry } from "../../helpers/registry.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";
import { until } from "../../helpers/until.js";
import { buildpackRepo, startServer, type RunningServer } from "../e2e/server.js";
import { cli, type Release } from "./cli.js";

/*
 * Release images against a real registry (Debian's docker-registry on 127.0.0.1) and the real
 * engine: a push's release pushed as <registry>/<app>:vN, pulled and run (its web process over
 * HTTP, a default process type, a command); a second release sends only its slug and config; a
 * config change gets the same image under its own tag; the same slug in two apps is one layer.
 */
const dirs = tmpDirs();
const run = randomBytes(3).toString("hex");
let registry: TestRegistry;
let server: RunningServer;
let git: GitClient;
let work: string;
const pulled: string[] = [];
const started: string[] = [];

const docker = (args: string[]) => runChecked("docker", args, { timeoutMs: 120_000 });

beforeAll(async () => {
  git = new GitClient(await dirs.make("sf-img-home-"));
  registry = await createTestRegistry(await dirs.make("sf-img-registry-"));
  await registry.start();
  server = await startServer(await dirs.make("sf-img-data-"), { SLUGFORGE_IMAGES: "on", SLUGFORGE_REGISTRY: `${registry.host}/sf-${run}` });
  work = await dirs.make("sf-img-app-");
  await git.initRepo(work);
  await git.commit(work, ".buildpacks", `${await buildpackRepo(git, "webapp", await dirs.make("sf-img-bp-"))}\n`, "buildpack");
  await git.commit(work, "Procfile", "web: perl server.pl\n", "Procfile");
  await git.commit(work, "index.txt", "first page\n", "index");
}, 120_000);
afterAll(async () => {
  for (const id of started) await runProcess("docker", ["rm", "-f", id]);
  for (const ref of pulled) await runProcess("docker", ["rmi", "-f", ref]);
  await server?.close();
  await registry?.stop();
  await dirs.cleanup();
});

const push = (app: string) => git.run(["push", server.url(app), "main"], work);
const releases = async (app: string): Promise<Release[]> => (await server.api<Release[]>("GET", `/api/apps/${app}/releases`)).body;
/** The manifest the registry has under a tag: its digest and its layers' digests. */
async function manifest(app: string, tag: string): Promise<{ digest: string; layers: string[]; config: string }> {
  const res = await fetch(`http://${registry.host}/v2/sf-${run}/${app}/manifests/${tag}`, { headers: { Accept: "application/vnd.oci.image.manifest.v1+json" } });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { layers: { digest: string }[]; config: { digest: string } };
  return { digest: res.headers.get("docker-content-digest") ?? "", layers: body.layers.map((l) => l.digest), config: body.config.digest };
}
async function pull(name: string): Promise<void> {
  await docker(["pull", "-q", name]);
  pulled.push(name);
}
/** Runs the image's web process with its port published on loopback, and asks it for its page. */
async function page(name: string): Promise<string> {
  const { stdout } = await docker(["run", "-d", "--network", "bridge", "-p", "127.0.0.1::5000", name, "web"]);
  const id = stdout.trim();
  started.push(id);
  const port = (await docker(["port", id, "5000/tcp"])).stdout.trim().split("\n")[0]!.split(":").at(-1);
  let body = "";
  await until(async () => {
    body = await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text(), () => "");
    return body !== "";
  }, 20_000);
  return body;
}

describe("release images in a registry", () => {
  it("a push makes <registry>/<app>:v1, which runs its web process, its other process types and commands", async () => {
    const app = "shop";
    const result = await push(app);
    expect(result.code, result.stderr).toBe(0);
    const name = `${registry.host}/sf-${run}/${app}:v1`;
    expect(result.stderr).toMatch(new RegExp(`remote: -----> Image ${name.replace(/[.]/g, "\\.")} sha256:[0-9a-f]{64}`));
    const [v1] = await releases(app);
    expect(v1!.image).toEqual({ name, digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
    const m = await manifest(app, "v1");
    expect(m.digest).toBe(v1!.image!.digest);
    // The slug file is the top layer, as it is: the slug's id is the layer's digest.
    expect(m.layers.at(-1)).toBe(v1!.slugId);
    expect((await manifest(app, "latest")).digest).toBe(m.digest);

    await pull(name);
    const labels = JSON.parse((await docker(["image", "inspect", "--format", "{{json .Config.Labels}}", name])).stdout) as Record<string, string>;
    expect(labels).toMatchObject({ "org.slugforge.app": app, "org.slugforge.release": "v1", "org.slugforge.slug": v1!.slugId, "org.slugforge.stack": "debian-13" });
    expect(labels["org.slugforge.stack-image"]).toMatch(/^sha256:/);
    expect(JSON.parse(labels["org.slugforge.buildpacks"]!)).toEqual([expect.stringMatching(/^file:\/\/.*@[0-9a-f]{40}$/)]);
    expect(JSON.parse(labels["org.slugforge.process-types"]!)).toEqual({ web: "perl server.pl", worker: 'echo "worker $DYNO says $GREETING"' });

    expect(await page(name)).toBe("first page\nhello from .profile.d on web.1\n");
    // A default process type from bin/release (not in the Procfile), with the dyno's environment.
    expect((await docker(["run", "--rm", name, "worker"])).stdout).toBe("worker worker.1 says hello from .profile.d\n");
    // A command in the app's environment, as the app's user, who may write its own files.
    const command = await docker(["run", "--rm", name, "bash", "-c", 'echo "$HOME $PORT $DYNO"; id -u; echo changed > /app/index.txt && cat /app/index.txt']);
    expect(command.stdout).toBe("/app 5000 run.1\n1000\nchanged\n");
    // Config vars are not in the image: whatever runs it gives the environment.
    expect((await docker(["run", "--rm", "-e", "GREETING=from the deploy", name, "worker"])).stdout).toBe("worker worker.1 says from the deploy\n");
  });

  it("a second release sends only its slug layer and config; a config change is the same image under its own tag", async () => {
    const app = "shop";
    const before = await registry.blobs();
    const [v1] = await releases(app);
    await git.commit(work, "index.txt", "second page\n", "new page");
    const result = await push(app);
    expect(result.code, result.stderr).toBe(0);
    const [v2] = await releases(app);
    const m = await manifest(app, "v2");
    // Of the layers and the config, the registry had all but the slug and the config.
    expect(result.stderr).toMatch(new RegExp(`remote: {8}Sent 2 blobs \\(.*\\); the registry had the other ${m.layers.length - 1}\\s*\\n`));
    const added = [...(await registry.blobs())].filter((b) => !before.has(b)).sort();
    // The slug layer, the config, and the manifest (the registry keeps manifests as blobs too).
    expect(added).toEqual([v2!.slugId, m.config, m.digest].sort());
    expect(m.layers.slice(0, -1)).toEqual((await manifest(app, "v1")).layers.slice(0, -1));

    const changed = await server.api<{ release: Release }>("PATCH", `/api/apps/${app}/config-vars`, { GREETING: "configured" });
    const v3 = changed.body.release;
    expect(v3.version).toBe(3);
    expect(v3.image).toEqual({ name: `${registry.host}/sf-${run}/${app}:v3`, digest: v2!.image!.digest });
    expect((await manifest(app, "latest")).digest).toBe(v2!.image!.digest);

    // Made again by hand, an image has the digest it had: v1's inputs have not changed.
    const again = await cli(server, ["releases:image", app, "v1", "--json"]);
    expect(again.code, again.err).toBe(0);
    expect((JSON.parse(again.out) as Release).image).toEqual(v1!.image);
    expect((await manifest(app, "latest")).digest).toBe(v2!.image!.digest);

    const listed = await cli(server, ["releases", app]);
    expect(listed.out).toMatch(new RegExp(`v3 +Set GREETING config vars +sha256:[0-9a-f]{12}… +${registry.host.replace(/[.]/g, "\\.")}/sf-${run}/shop:v3 sha256:[0-9a-f]{12}`));
  });

  it("the same slug in another app is the same layer, mounted rather than sent; only the config is new", async () => {
    const [shop] = await releases("shop");
    const result = await push("store");
    expect(result.code, result.stderr).toBe(0);
    const [store] = await releases("store");
    expect(store!.slugId).toBe(shop!.slugId);
    const m = await manifest("store", "v1");
    expect(m.layers).toEqual((await manifest("shop", "v2")).layers);
    expect(result.stderr).toMatch(new RegExp(`remote: {8}Sent 1 blob \\(.*\\); the registry had the other ${m.layers.length}\\s*\\n`));
    expect(registry.log()).toMatch(/POST \/v2\/sf-[0-9a-f]+\/store\/blobs\/uploads\/\?mount=sha256/);
  });
});
