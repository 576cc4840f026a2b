import path from "node:path";
import type { Git } from "./git.js";
import { REPO, type TempDirs } from "./paths.js";
import { ok, quote, sh } from "./proc.js";
import type { ScenarioResult } from "./report.js";
import { startSlugforge, type BenchServer } from "./slugforge.js";

export interface BenchContext {
  readonly runs: number;
  /** True when --runs was given (scenarios then never lower it). */
  readonly runsGiven: boolean;
  readonly quick: boolean;
  readonly tmp: TempDirs;
  readonly git: Git;
  progress(line: string): void;
  /** The wheelhouse folder (made by scripts/make-wheelhouse.sh, instant when up to date). */
  wheelhouse(): Promise<string>;
  /**
   * The shipped buildpacks as committed (git archive HEAD), so an edit in progress in the work
   * tree never breaks a run; `commit` names the version measured.
   */
  buildpacks(): Promise<{ dir: string; commit: string }>;
  /** One server with the shipped Python buildpack and the wheelhouse mounted, shared by scenarios. */
  pythonServer(): Promise<BenchServer>;
  /** Closes what the context started. */
  close(): Promise<void>;
}

export type Scenario = (ctx: BenchContext) => Promise<ScenarioResult>;

/** Config vars that point pip at the mounted wheelhouse (there is no PyPI here). */
export const WHEELHOUSE_VARS = { PIP_FIND_LINKS: "/wheelhouse", PIP_NO_INDEX: "1" };

export function createContext(options: { runs: number; runsGiven: boolean; quick: boolean; tmp: TempDirs; git: Git }): BenchContext {
  let wheelhouse: Promise<string> | undefined;
  let server: Promise<BenchServer> | undefined;
  let buildpacks: Promise<{ dir: string; commit: string }> | undefined;
  const progress = (line: string): void => void process.stderr.write(`[bench] ${line}\n`);
  const ctx: BenchContext = {
    ...options,
    progress,
    wheelhouse() {
      wheelhouse ??= (async () => {
        const dir = process.env.SLUGFORGE_WHEELHOUSE ?? path.join(REPO, ".slugforge", "wheelhouse", "debian-13");
        progress("wheelhouse: scripts/make-wheelhouse.sh (instant when up to date)");
        await ok("bash", [path.join(REPO, "scripts", "make-wheelhouse.sh"), dir], { timeoutMs: 600_000 });
        return dir;
      })();
      return wheelhouse;
    },
    buildpacks() {
      buildpacks ??= (async () => {
        const root = await options.tmp.make("buildpacks");
        const commit = (await ok("git", ["rev-parse", "HEAD"], { cwd: REPO })).stdout.trim();
        await sh(`git -C ${quote(REPO)} archive ${commit} buildpacks | tar -xf - -C ${quote(root)}`);
        progress(`buildpacks: as committed in ${commit.slice(0, 7)}`);
        return { dir: path.join(root, "buildpacks"), commit };
      })();
      return buildpacks;
    },
    pythonServer() {
      server ??= (async () => {
        const dir = await ctx.wheelhouse();
        return startSlugforge({
          buildpacksDir: (await ctx.buildpacks()).dir,
          dataDir: await options.tmp.make("data-python"),
          env: { SLUGFORGE_BUILD_MOUNTS: `${dir}:/wheelhouse:ro`, SLUGFORGE_BUILD_CONCURRENCY: "2" },
        });
      })();
      return server;
    },
    async close() {
      if (server) await (await server).stop();
    },
  };
  return ctx;
}

/** Creates an app (POST /api/apps) and sets its config vars, as a user would before a first push. */
export async function createApp(server: BenchServer, name: string, vars: Record<string, string> = {}): Promise<void> {
  await server.api("POST", "/api/apps", { name });
  if (Object.keys(vars).length > 0) await server.api("PATCH", `/api/apps/${name}/config-vars`, vars);
}

let counter = 0;
/** A fresh app name for each push that must start from nothing. */
export function appName(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid % 10000}-${counter}`;
}
