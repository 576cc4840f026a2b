import { mkdtempSync } from "node:fs";
import { readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect } from "vitest";
import { processGroupAlive } from "../../src/util/process-group.js";
import { FakeBuilder, type FakeBuildPlan } from "./fake-builder.js";
import { GitClient } from "./git-client.js";
import { startGitServer, type StartGitServerOptions, type TestGitServer } from "./git-server.js";
import { tmpDirs } from "./tmp-dir.js";
import { until } from "./until.js";

export interface GitTestBedOptions extends StartGitServerOptions {
  /** The fake builder's first plan (tests change `builder.plan` as they go). */
  readonly plan?: FakeBuildPlan;
}

export interface GitTestBed {
  /** Temp folders of this test file, removed after it. */
  readonly dirs: ReturnType<typeof tmpDirs>;
  readonly builder: FakeBuilder;
  /** A git client with its own HOME and no system config. */
  readonly client: GitClient;
  /** The git server, started before the file's tests. */
  readonly server: TestGitServer;
  /** The app's bare repository on the server. */
  gitDir(app: string): string;
  /** Where a branch of the app points on the server (asked of the client's git), or undefined. */
  serverRef(app: string, ref?: string): Promise<string | undefined>;
  /** A new work tree with one commit, pushed to the app's main; the push must succeed. */
  deployed(app: string): Promise<{ work: string; head: string }>;
  /** The app's leftover quarantine folders (`objects/tmp_objdir-*`). */
  quarantines(app: string): Promise<string[]>;
  /** Waits until the server runs no git, none of `groups` lives on, and the app has no quarantine left. */
  settled(app: string, groups: Iterable<number>): Promise<void>;
}

/**
 * One test file's git server and client: the git layer as main.ts assembles it on port 0 over a
 * fake builder, a client isolated from the machine's git config, temp folders; all started before
 * the file's tests and removed after them.
 */
export function gitTestBed(options: GitTestBedOptions = {}): GitTestBed {
  const { plan, ...serverOptions } = options;
  const dirs = tmpDirs();
  const builder = new FakeBuilder(plan);
  const home = mkdtempSync(path.join(os.tmpdir(), "slugforge-client-"));
  const client = new GitClient(home);
  let server: TestGitServer | undefined;
  beforeAll(async () => {
    server = await startGitServer(await dirs.make(), builder, serverOptions);
  });
  afterAll(async () => {
    await server?.close();
    await dirs.cleanup();
    await rm(home, { recursive: true, force: true });
  });

  const bed: GitTestBed = {
    dirs,
    builder,
    client,
    get server(): TestGitServer {
      if (!server) throw new Error("the git test bed's server starts in beforeAll");
      return server;
    },
    gitDir: (app) => path.join(bed.server.reposDir, `${app}.git`),
    async serverRef(app, ref = "refs/heads/main") {
      const r = await client.run(["--git-dir", bed.gitDir(app), "rev-parse", "--verify", "-q", ref], bed.server.dataDir);
      return r.code === 0 ? r.stdout.trim() : undefined;
    },
    async deployed(app) {
      const work = await dirs.make();
      const head = await client.initRepo(work);
      const push = await client.run(["push", bed.server.url(app), "HEAD:main"], work);
      expect(push.code, push.stderr).toBe(0);
      return { work, head };
    },
    async quarantines(app) {
      return (await readdir(path.join(bed.gitDir(app), "objects"))).filter((n) => n.startsWith("tmp_objdir"));
    },
    async settled(app, groups) {
      await until(() => bed.server.handler.activeProcesses().length === 0);
      await until(() => [...groups].every((g) => !processGroupAlive(g)), 5000);
      await until(async () => (await bed.quarantines(app)).length === 0, 5000);
    },
  };
  return bed;
}
