import { appName, type BenchContext } from "../lib/context.js";
import { fixtureRepo } from "../lib/git.js";
import { Recorder, type ScenarioResult } from "../lib/report.js";
import { startSlugforge, type BenchServer } from "../lib/slugforge.js";
import { makeRunFolder, removeCluster, RUN_FOLDER_VARIABLE, testPostgres } from "../../test/helpers/postgres.js";
import { createSecondEngine, type SecondEngine } from "../../test/helpers/second-engine.js";
import { startTestSwift, type TestSwift } from "../../test/helpers/swift.js";

const APPS = 8;
const MAIN_ENGINE = "unix:///var/run/docker.sock";

/**
 * The concurrency scenario's workload (8 new apps of the stdlib sample pushed at once) on three
 * sides: the default server (SQLite, data folder, one engine, 2 build slots); one node with one
 * engine over PostgreSQL and the object store (Swift), 2 slots; and two nodes over one PostgreSQL,
 * one object store, one repos folder and two engines, the pushes split evenly over the nodes, 1
 * build slot per node (2 in all). The target is the cost of coordination, two nodes and two
 * engines against one of each on the same back-ends; the ratio to the default server (which adds
 * what PostgreSQL and Swift cost on the same 2 cores) is reported beside it. Also reports the
 * pushes that did not end accepted with a release.
 */
export async function scaleScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const rec = new Recorder();
  const work = await ctx.tmp.make("scale-src");
  await fixtureRepo(ctx.git, "python-stdlib", work);
  // The cluster folder vitest's global setup names for the tests; here it is ours to make and remove.
  const pgFolder = process.env[RUN_FOLDER_VARIABLE] ? undefined : makeRunFolder();
  if (pgFolder) process.env[RUN_FOLDER_VARIABLE] = pgFolder;
  let swift: TestSwift | undefined;
  let engine: SecondEngine | undefined;
  const nodes: BenchServer[] = [];
  let databaseUrl: string | undefined;
  let soloDatabase: string | undefined;
  try {
    const single = await ctx.pythonServer();
    const setupStarted = performance.now();
    ctx.progress("scale: PostgreSQL, Swift and a second dockerd");
    const pg = await testPostgres();
    // Both settled before either failure goes on, so that one failing (Swift not installed) still has the other removed below.
    const [swiftStarted, engineMade] = await Promise.allSettled([startTestSwift(), createSecondEngine()]);
    if (swiftStarted.status === "fulfilled") swift = swiftStarted.value;
    if (engineMade.status === "rejected") throw engineMade.reason;
    engine = engineMade.value;
    if (swiftStarted.status === "rejected") throw swiftStarted.reason;
    await engine.start();
    const database = await pg.createDatabase();
    databaseUrl = database;
    const reposDir = await ctx.tmp.make("scale-repos");
    const wheelhouse = await ctx.wheelhouse();
    const buildpacks = (await ctx.buildpacks()).dir;
    const startNode = async (id: string, engines: string, shared = { database, bucket: `bench-scale-${process.pid}`, reposDir, slots: "1" }): Promise<BenchServer> =>
      startSlugforge({
        buildpacksDir: buildpacks,
        dataDir: await ctx.tmp.make(`scale-${id}`),
        env: {
          SLUGFORGE_BUILD_MOUNTS: `${wheelhouse}:/wheelhouse:ro`,
          SLUGFORGE_BUILD_CONCURRENCY: shared.slots,
          SLUGFORGE_NODE_ID: `${id}-${process.pid}`,
          SLUGFORGE_DATABASE_URL: shared.database,
          SLUGFORGE_STORAGE_URL: swift!.storageUrl(shared.bucket),
          ...swift!.env,
          SLUGFORGE_REPOS_DIR: shared.reposDir,
          SLUGFORGE_BUILD_ENGINES: engines,
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
        },
      });
    // The first node copies the stack images into the second engine; the second finds them there.
    nodes.push(await startNode("bench-a", `${MAIN_ENGINE},${engine.url}`));
    await enginesUp(nodes[0]!, 300_000);
    nodes.push(await startNode("bench-b", `${engine.url},${MAIN_ENGINE}`));
    await enginesUp(nodes[1]!, 60_000);
    // One node and one engine on back-ends of its own (its database, bucket and repos folder), 2 slots.
    soloDatabase = await pg.createDatabase();
    const solo = await startNode("bench-solo", MAIN_ENGINE, { database: soloDatabase, bucket: `bench-solo-${process.pid}`, reposDir: await ctx.tmp.make("scale-solo-repos"), slots: "2" });
    nodes.push(solo);
    rec.note(`set-up of the two-node side (PostgreSQL, Swift, second dockerd and its stack images, two nodes), unmeasured: ${((performance.now() - setupStarted) / 1000).toFixed(1)} s`);

    // One unmeasured push per slot on each side, so neither meets a cold engine.
    ctx.progress("scale: warm-up pushes (unmeasured)");
    await Promise.all([single, single, ...nodes, solo].map((s) => ctx.git.push(s.url(appName("scale-warm")), work)));

    const runs = ctx.runs;
    for (let i = 0; i < runs; i++) {
      const sides = [
        ["default server", [single]],
        ["one node", [solo]],
        ["two nodes", [nodes[0]!, nodes[1]!]],
      ] as const;
      // The order turns run by run, so drift on the machine does not always favour one side.
      const ordered = [...sides.slice(i % sides.length), ...sides.slice(0, i % sides.length)];
      const makespan: Record<string, number> = {};
      let lost = 0;
      for (const [label, servers] of ordered) {
        ctx.progress(`scale: run ${i + 1}/${runs}: ${APPS} pushes at once, ${label}`);
        const r = await pushAtOnce(ctx, servers, work);
        makespan[label] = r.makespan;
        lost += r.lost;
        rec.add(`makespan, ${label}`, "ms", r.makespan);
        rec.add(`lost, ${label}`, "count", r.lost);
      }
      rec.add("makespan two nodes / one", "x", makespan["two nodes"]! / makespan["one node"]!);
      rec.add("makespan two nodes / default server", "x", makespan["two nodes"]! / makespan["default server"]!);
      rec.add("lost pushes", "count", lost);
    }
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
    // After the nodes: they keep polling the database until they stop.
    for (const url of [databaseUrl, soloDatabase]) if (url) await (await testPostgres()).dropDatabase(url);
    await engine?.remove();
    await swift?.stop();
    if (pgFolder) {
      await removeCluster(pgFolder);
      delete process.env[RUN_FOLDER_VARIABLE];
    }
  }
  return rec.result("scale", [
    { metric: "makespan two nodes / one", max: 1.15, text: "makespan on two nodes and two engines <= 1.15 x one node and one engine (same PostgreSQL and object store)" },
    { metric: "lost pushes", max: 0, text: "zero lost pushes (each accepted, with one release)" },
  ]);
}

/** APPS new apps pushed at once, spread evenly over `servers`; lost: not accepted, or not exactly one release. */
async function pushAtOnce(ctx: BenchContext, servers: readonly BenchServer[], work: string): Promise<{ makespan: number; lost: number }> {
  const pushes = Array.from({ length: APPS }, (_, a) => ({ name: appName("scale"), server: servers[a % servers.length]! }));
  const started = performance.now();
  const results = await Promise.all(pushes.map((p) => ctx.git.tryPush(p.server.url(p.name), work)));
  const makespan = performance.now() - started;
  let lost = 0;
  for (const [a, p] of pushes.entries()) {
    // Read through the other server where there is one: every node must see every release.
    const reader = servers[(a + 1) % servers.length]!;
    const releases = await reader.api<{ version: number }[]>("GET", `/api/apps/${p.name}/releases`).catch(() => []);
    if (results[a]!.code !== 0 || releases.length !== 1) {
      lost++;
      ctx.progress(`scale: ${p.name} lost (push exit ${results[a]!.code}, ${releases.length} releases): ${results[a]!.stderr.slice(-500)}`);
    }
  }
  return { makespan, lost };
}

async function enginesUp(server: BenchServer, timeoutMs: number): Promise<void> {
  const started = performance.now();
  for (;;) {
    const engines = await server.api<{ url: string; state: string }[]>("GET", "/api/engines").catch(() => []);
    if (engines.length > 0 && engines.every((e) => e.state === "up")) return;
    if (performance.now() - started > timeoutMs) throw new Error(`the engines were not all up after ${timeoutMs} ms: ${JSON.stringify(engines)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
