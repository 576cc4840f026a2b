import { execFileSync } from "node:child_process";
import { createReadStream } from "node:fs";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { Writable } from "node:stream";
import { createGunzip } from "node:zlib";
import tar from "tar-stream";
import { afterAll, beforeAll } from "vitest";
import { createBuildService, type BuildService } from "../../../src/builds/build-service.js";
import type { BuildOutput, BuildRequest } from "../../../src/builds/types.js";
import { parseConfig, type Config } from "../../../src/config/parse-config.js";
import type { ContainerRuntime } from "../../../src/docker/container-runtime.js";
import { createDockerRuntime } from "../../../src/docker/dockerode-runtime.js";
import { createLogger, silentLogger } from "../../../src/log.js";
import type { SlugStore } from "../../../src/slug/slug-store.js";

export const FIXTURE_BUILDPACKS = path.resolve(import.meta.dirname, "../../fixtures/buildpacks");
export const SHIPPED_ORDER = ["never", "recorder", "cacher", "slow", "bad-release"];

export type Files = Record<string, string | { content: string; mode: number }>;

export async function tempDir(prefix = "slugforge-build-"): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A temp folder for the enclosing describe block: made before its first test (and its later beforeAll hooks), removed after. */
/** Services made by testService, closed when their suite's temp folder is removed. */
const openServices = new Set<BuildService>();

export function suiteTempDir(): { readonly dir: string } {
  let made: { dir: string; cleanup(): Promise<void> } | undefined;
  beforeAll(async () => {
    made = await tempDir();
  });
  afterAll(async () => {
    // A service's background work (cache saves) writes into the folder: it ends before the folder goes.
    await Promise.all([...openServices].map((s) => s.close()));
    openServices.clear();
    await made?.cleanup();
  });
  return {
    get dir() {
      if (!made) throw new Error("suiteTempDir: used before the suite's beforeAll ran");
      return made.dir;
    },
  };
}

export function git(args: string[], env: Record<string, string> = {}): string {
  return execFileSync("git", args, {
    encoding: "utf8",
    env: { PATH: process.env.PATH, HOME: os.tmpdir(), GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@example.com", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@example.com", ...env },
  });
}

export async function writeFiles(dir: string, files: Files): Promise<void> {
  for (const [name, value] of Object.entries(files)) {
    const file = path.join(dir, name);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, typeof value === "string" ? value : value.content);
    if (typeof value !== "string") await chmod(file, value.mode);
  }
}

/** An app's bare repository with one commit of `files` (bareRepoWithCommit), its work tree, and git's environment for both. */
export async function appRepo(root: string, files: Files): Promise<{ gitDir: string; commit: string; work: string; at: Record<string, string> }> {
  const repo = await bareRepoWithCommit(root, files);
  const work = path.join(root, "work");
  return { ...repo, work, at: { GIT_DIR: repo.gitDir, GIT_WORK_TREE: work } };
}

/** A buildpack in a git repository at `dir` (a `file://` URL names it), with one commit of `files`; returns git's environment for it. */
export async function gitBuildpack(dir: string, files: Files): Promise<Record<string, string>> {
  await writeFiles(dir, files);
  git(["init", "--quiet", "--initial-branch=main", dir]);
  const at = { GIT_DIR: `${dir}/.git`, GIT_WORK_TREE: dir };
  git(["add", "-A"], at);
  git(["commit", "--quiet", "-m", "v1"], at);
  return at;
}

/** A bare repository at `<root>/repo.git` with one commit of `files`; returns the commit. */
export async function bareRepoWithCommit(root: string, files: Files, commitEnv: Record<string, string> = {}): Promise<{ gitDir: string; commit: string }> {
  const gitDir = path.join(root, "repo.git");
  const work = path.join(root, "work");
  await mkdir(work, { recursive: true });
  git(["init", "--quiet", "--bare", "--initial-branch=main", gitDir]);
  await writeFiles(work, files);
  const env = { GIT_DIR: gitDir, GIT_WORK_TREE: work };
  git(["add", "-A"], env);
  git(["commit", "--quiet", "-m", "app"], { ...env, ...commitEnv });
  return { gitDir, commit: git(["rev-parse", "HEAD"], env).trim() };
}

export function testConfig(dataDir: string, env: Record<string, string> = {}): Config {
  const parsed = parseConfig({ SLUGFORGE_DATA: dataDir, SLUGFORGE_BUILD_NETWORK: "none", SLUGFORGE_BUILD_MEMORY: "512MiB", SLUGFORGE_BUILDPACK_ROOTS: os.tmpdir(), ...env });
  if (!parsed.config) throw new Error(parsed.errors.join("; "));
  return parsed.config;
}

export const runtime = createDockerRuntime();

export function testService(
  dataDir: string,
  options: { env?: Record<string, string>; configVars?: Record<string, string>; shipped?: string[]; serverId?: string; logStream?: NodeJS.WritableStream; slugStore?: SlugStore; runtime?: ContainerRuntime } = {},
): BuildService {
  const service = createBuildService({
    runtime: options.runtime ?? runtime,
    config: testConfig(dataDir, options.env),
    log: options.logStream ? createLogger("debug", options.logStream) : process.env.SLUGFORGE_TEST_LOG ? createLogger(process.env.SLUGFORGE_TEST_LOG) : silentLogger(),
    buildpacksDir: FIXTURE_BUILDPACKS,
    shippedBuildpacks: options.shipped ?? SHIPPED_ORDER,
    getConfigVars: async () => ({ ...options.configVars }),
    serverId: options.serverId,
    slugStore: options.slugStore,
  });
  openServices.add(service);
  return service;
}

export interface Captured extends BuildOutput {
  readonly chunks: { at: number; data: Buffer }[];
  text(): string;
}

export function captureOutput(): Captured {
  const chunks: { at: number; data: Buffer }[] = [];
  return {
    chunks,
    write(chunk) {
      chunks.push({ at: Date.now(), data: Buffer.isBuffer(chunk) ? Buffer.from(chunk) : Buffer.from(chunk, "utf8") });
    },
    text: () => Buffer.concat(chunks.map((c) => c.data)).toString("utf8"),
  };
}

export function request(app: string, repo: { gitDir: string; commit: string }): BuildRequest {
  return { app, commit: repo.commit, ref: "refs/heads/main", source: { gitDir: repo.gitDir }, pushOptions: [] };
}

/** Where the default filesystem slug store keeps a build's slug. */
export function slugFile(dataDir: string, result: { slug?: { sha256: string } }): string {
  const hex = result.slug!.sha256;
  return path.join(dataDir, "slugs", "sha256", hex.slice(0, 2), `${hex}.tar.gz`);
}

/** Every entry of a gzipped slug: name -> content (files) or "" (other types). */
export async function readSlug(file: string): Promise<Map<string, { type: string; content: string; mode: number }>> {
  const entries = new Map<string, { type: string; content: string; mode: number }>();
  await eachSlugEntry(file, (header, body) => entries.set(header.name, { type: header.type, content: body.toString("utf8"), mode: header.mode }));
  return entries;
}

/** Every entry of a gzipped slug: name -> its mtime in seconds. */
export async function slugTimes(file: string): Promise<Map<string, number>> {
  const times = new Map<string, number>();
  await eachSlugEntry(file, (header) => times.set(header.name, Math.floor((header.mtime?.getTime() ?? 0) / 1000)));
  return times;
}

async function eachSlugEntry(file: string, onEntry: (header: tar.Header, body: Buffer) => void): Promise<void> {
  const extract = tar.extract();
  extract.on("entry", (header, stream, next) => {
    const parts: Buffer[] = [];
    stream.on("data", (b) => parts.push(b as Buffer));
    stream.on("end", () => {
      onEntry(header, Buffer.concat(parts));
      next();
    });
  });
  await pipeline(createReadStream(file), createGunzip(), extract as unknown as Writable);
}

export async function buildContainers(buildId: string): Promise<string[]> {
  return runtime.listContainers(`org.slugforge.build=${buildId}`);
}
