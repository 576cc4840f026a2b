import type { ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GitClient } from "../../helpers/git-client.js";
import { testPostgres, type TestPostgres } from "../../helpers/postgres.js";
import { createSecondEngine, type SecondEngine } from "../../helpers/second-engine.js";
import { startTestSwift, type TestSwift } from "../../helpers/swift.js";
import { spawnServe } from "../../helpers/serve-process.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";
import { until } from "../../helpers/until.js";
import { buildpackRepo } from "../e2e/server.js";

/*
 * Two slugforge nodes — processes of their own, as an operator runs them — over one PostgreSQL,
 * one object store (Swift), one repos folder and two engines (the main one and a second dockerd).
 * Pushes spread over both nodes at once and race on one app; then one node is killed with SIGKILL
 * in the middle of a build, and the other marks that build INTERRUPTED and takes the next push.
 */
const REPO = path.resolve(import.meta.dirname, "../../..");
const TOKEN = "two-nodes-token-0123456789";
const MAIN = "unix:///var/run/docker.sock";
const BUCKET = "two-nodes";
const dirs = tmpDirs();

interface Node {
  readonly id: string;
  readonly proc: ChildProcess;
  readonly port: number;
  url(app: string): string;
  api<T>(p: string): Promise<{ status: number; body: T }>;
  stderr(): string;
}

interface Build {
  id: string;
  app: string;
  status: string;
  errorCode: string | null;
  node: string | null;
  slugId: string | null;
}

let pg: TestPostgres;
let databaseUrl: string;
let swift: TestSwift;
let engine: SecondEngine;
let reposDir: string;
let git: GitClient;
let staticPack: string;
let slowPack: string;
const nodes: Node[] = [];

async function startNode(id: string): Promise<Node> {
  const { proc, port, stderr } = await spawnServe({
    PORT: "0",
    SLUGFORGE_HOST: "127.0.0.1",
    SLUGFORGE_DATA: await dirs.make(`sf-2n-${id}-`),
    SLUGFORGE_TOKEN: TOKEN,
    SLUGFORGE_NODE_ID: id,
    SLUGFORGE_NODE_STALE: "3s",
    SLUGFORGE_DATABASE_URL: databaseUrl,
    SLUGFORGE_STORAGE_URL: swift.storageUrl(BUCKET),
    ...swift.env,
    SLUGFORGE_REPOS_DIR: reposDir,
    SLUGFORGE_BUILD_ENGINES: `${MAIN},${engine.url}`,
    SLUGFORGE_ENGINE_CHECK: "1s",
    SLUGFORGE_BUILD_CONCURRENCY: "2",
    SLUGFORGE_BUILD_NETWORK: "none",
    SLUGFORGE_BUILDPACK_ROOTS: os.tmpdir(),
    SLUGFORGE_IMAGES: "off",
    SLUGFORGE_LOG_LEVEL: "info",
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
  });
  const node: Node = {
    id,
    proc,
    port,
    url: (app) => `http://git:${TOKEN}@127.0.0.1:${port}/${app}.git`,
    async api<T>(p: string) {
      const res = await fetch(`http://127.0.0.1:${port}${p}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
      const text = await res.text();
      return { status: res.status, body: (text.startsWith("{") || text.startsWith("[") ? JSON.parse(text) : text) as T };
    },
    stderr,
  };
  nodes.push(node);
  return node;
}

async function stopNode(node: Node, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (node.proc.exitCode !== null || node.proc.signalCode !== null) return;
  const exited = new Promise((r) => node.proc.once("exit", r));
  node.proc.kill(signal);
  await exited;
}

/** A work tree whose app builds with `pack` (and `files` committed beside). */
async function appDir(name: string, pack: string, files: Record<string, string> = {}): Promise<string> {
  const dir = await dirs.make(`sf-2n-app-${name}-`);
  await git.initRepo(dir);
  await git.commit(dir, ".buildpacks", `${pack}\n`, "buildpack");
  for (const [file, text] of Object.entries(files)) await git.commit(dir, file, text, file);
  return dir;
}

const push = (node: Node, app: string, dir: string) => git.run(["push", node.url(app), "main"], dir);
const builds = async (node: Node, app: string): Promise<Build[]> => (await node.api<Build[]>(`/api/apps/${app}/builds`)).body;
const versions = async (node: Node, app: string): Promise<number[]> =>
  (await node.api<{ version: number }[]>(`/api/apps/${app}/releases`)).body.map((r) => r.version).sort((x, y) => x - y);
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

beforeAll(async () => {
  git = new GitClient(await dirs.make("sf-2n-home-"));
  [pg, swift, engine] = await Promise.all([testPostgres(), startTestSwift(), createSecondEngine()]);
  databaseUrl = await pg.createDatabase();
  await engine.start();
  reposDir = await dirs.make("sf-2n-repos-");
  staticPack = await buildpackRepo(git, "static", await dirs.make("sf-2n-static-"));
  slowPack = await buildpackRepo(git, "slow", await dirs.make("sf-2n-slow-"));
  // The first node copies the stack images into the second engine; the second node finds them there.
  const a = await startNode("node-a");
  await until(async () => (await a.api<{ url: string; state: string }[]>("/api/engines")).body.every((e) => e.state === "up"), 240_000);
  await startNode("node-b");
}, 360_000);

afterAll(async () => {
  await Promise.all(nodes.map((n) => stopNode(n)));
  await engine?.remove();
  await swift?.stop();
  if (databaseUrl) await pg.dropDatabase(databaseUrl);
  await dirs.cleanup();
}, 180_000);

describe("two nodes over one PostgreSQL, one object store and two engines", () => {
  it("12 pushes of 6 apps over both nodes at once and 3 racing pushes of one app: clear answers, releases without gaps or repeats, slugs in the store, no build twice", async () => {
    const [a, b] = nodes as [Node, Node];
    const apps = await Promise.all(range(6).map(async (i) => ({ name: `two-${i}`, dir: await appDir(`two-${i}`, staticPack) })));
    // Each app: a first push through one node, a second commit through the other; the six at once.
    const chains = apps.map(async ({ name, dir }, i) => {
      const [first, second] = i % 2 ? [b, a] : [a, b];
      const one = await push(first, name, dir);
      await git.commit(dir, "CHANGE", `${i}\n`, "a change");
      const two = await push(second, name, dir);
      return [one, two];
    });
    const race = (async () => {
      const base = await appDir("race", staticPack);
      const first = await push(a, "two-race", base);
      expect(first.code, first.stderr).toBe(0);
      // Three clones, each one commit ahead of what the app has, pushed through a, b, a at once.
      const clones = await Promise.all(
        range(3).map(async (i) => {
          const dir = await dirs.make(`sf-2n-race-${i}-`);
          await git.ok(["clone", "-q", base, dir], REPO);
          await git.commit(dir, "RACER", `${i}\n`, `racer ${i}`);
          return dir;
        }),
      );
      return Promise.all(clones.map((dir, i) => push(i === 1 ? b : a, "two-race", dir)));
    })();
    const pushed = (await Promise.all(chains)).flat();
    const racing = await race;

    for (const p of pushed) expect(p.code, p.stderr).toBe(0);
    // One racer wins; the others are told the app moved while they waited (or git's own refusal).
    expect(racing.filter((p) => p.code === 0)).toHaveLength(1);
    for (const p of racing.filter((r) => r.code !== 0)) expect(p.stderr).toMatch(/REF_MOVED|fetch first|non-fast-forward|cannot lock ref/);

    const seenNodes = new Set<string | null>();
    const slugIds = new Set<string>();
    for (const { name } of [...apps, { name: "two-race" }]) {
      const expected = 2;
      // Read through the node that did not necessarily build it: both see the same records.
      const [fromA, fromB] = await Promise.all([builds(a, name), builds(b, name)]);
      expect(fromA.map((x) => x.id).sort()).toEqual(fromB.map((x) => x.id).sort());
      expect(fromA.filter((x) => x.status === "succeeded"), name).toHaveLength(expected);
      // No build ran twice: one build per accepted push, and none left running.
      expect(fromA, name).toHaveLength(expected);
      for (const build of fromA) {
        seenNodes.add(build.node);
        slugIds.add(build.slugId!);
      }
      expect(await versions(b, name), name).toEqual(range(expected));
    }
    expect(seenNodes).toEqual(new Set(["node-a", "node-b"]));

    // Every slug is in the object store and its bytes hash to its id, read through either node.
    for (const [i, id] of [...slugIds].entries()) {
      const node = i % 2 ? a : b;
      const res = await fetch(`http://127.0.0.1:${node.port}/api/slugs/${id}/blob`, { headers: { Authorization: `Bearer ${TOKEN}` } });
      expect(res.status, id).toBe(200);
      expect(`sha256:${createHash("sha256").update(Buffer.from(await res.arrayBuffer())).digest("hex")}`).toBe(id);
    }

    // A build's output can be followed from the node that did not run it.
    const listed = await builds(a, "two-1");
    expect(Array.isArray(listed), JSON.stringify(listed)).toBe(true);
    const build = listed[0]!;
    const other = build.node === "node-a" ? b : a;
    const output = await other.api<string>(`/api/builds/${build.id}/output`);
    expect(output.status).toBe(200);
    expect(output.body).toContain("----->");
  });

  it("a node killed mid-build: the other keeps serving, marks the build INTERRUPTED, and takes the app's next push", async () => {
    const [a, b] = nodes as [Node, Node];
    const dir = await appDir("kill", slowPack, { SLOW: "120\n" });
    const lost = git.spawnTimed(["push", a.url("two-kill"), "main"], dir);
    await until(() => lost.lines.some((l) => l.text.includes("Starting slow compile")), 120_000);
    const [running] = await builds(b, "two-kill");
    expect(running).toMatchObject({ status: "building", node: "node-a" });
    const killed = Date.now();
    await stopNode(a, "SIGKILL");
    expect((await lost.done).code).not.toBe(0);

    // Node b answers all along, and marks the build once node a has been silent for SLUGFORGE_NODE_STALE.
    expect((await fetch(`http://127.0.0.1:${b.port}/healthz`)).status).toBe(200);
    await until(async () => (await builds(b, "two-kill"))[0]?.status === "failed", 60_000);
    expect((await builds(b, "two-kill"))[0]).toMatchObject({ id: running!.id, errorCode: "INTERRUPTED", node: "node-a" });
    expect(Date.now() - killed).toBeLessThan(60_000);
    expect(b.stderr()).toMatch(/builds left running by a node that stopped answering were marked failed/);

    // The app's next push, through node b: the lock node a held went with its connection.
    await git.commit(dir, "SLOW", "1\n", "faster");
    const next = await push(b, "two-kill", dir);
    expect(next.code, next.stderr).toBe(0);
    expect((await builds(b, "two-kill"))[0]).toMatchObject({ status: "succeeded", node: "node-b" });
    expect(await versions(b, "two-kill")).toEqual([1]);
  });
});
