import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { cp, mkdir, readdir, readFile, rm, statfs, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDockerRuntime } from "../../../src/docker/dockerode-runtime.js";
import { OWNER_LABEL } from "../../../src/docker/owner.js";
import { FAILPOINTS, type Failpoint } from "../../../src/util/failpoints.js";
import { runChecked, runProcess } from "../../../src/util/run-process.js";
import { GitClient, type TimedRun } from "../../helpers/git-client.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";

/*
 * Fault injection at every point of a push (src/util/failpoints.ts), with the same invariants
 * checked in every cell. A cell: the app's first push succeeds; its second is held at the point;
 * the fault is injected while it is held; a push of another app runs meanwhile; the point is let
 * go; then everything must hold: the server still serves, the ref moved only with a release, no
 * partial slug or temp file, a coded error on a failed build (never INTERNAL), no build container
 * left, the app's next push works, git fsck and SQLite's integrity_check are clean, and the server
 * process never died on its own.
 */

export type Fault = "disconnect" | "timeout" | "disk-full" | "container-killed" | "server-killed";

/** Cells that cannot happen, and why (docs/faults.md lists them too). */
export const NOT_APPLICABLE: Readonly<Record<Fault, Partial<Record<Failpoint, string>>>> = {
  disconnect: { "repo-gc": "git gc runs after git has answered the pusher" },
  timeout: {
    receive: "the build deadline starts after the pack is received (a silent body is the body idle limit's case)",
    "build-record": "the build's deadline has ended once its result is being recorded",
    "repo-gc": "git gc has no deadline (it is stopped at shutdown)",
  },
  "disk-full": {},
  "container-killed": { receive: "no build container exists yet", "repo-gc": "git gc involves no container" },
  "server-killed": {},
};

/** The error codes a failed build may carry under each fault. */
const EXPECTED_CODES: Readonly<Record<Fault, readonly string[]>> = {
  disconnect: ["BUILD_CANCELLED"],
  timeout: ["BUILD_TIMEOUT"],
  "disk-full": ["STORAGE_FULL"],
  "container-killed": ["BUILD_CONTAINER_LOST"],
  "server-killed": ["INTERRUPTED"],
};

/** Points after the push has its answer: the held push's build has succeeded whatever the fault. */
const AFTER_ANSWER: readonly Failpoint[] = ["cache-save", "cache-copy", "repo-gc"];

/**
 * How the held push's build may end: proof that the fault landed where it was aimed. "none": no
 * build ran; "succeeded"; or the fault's code. Where the work the fault hits may already be done,
 * either outcome is right (the invariants hold for both).
 */
function expectedOutcomes(fault: Fault, point: Failpoint): string[] {
  if (AFTER_ANSWER.includes(point)) return ["succeeded"];
  if (point === "receive") return ["none"];
  if (point === "build-record" && (fault === "disconnect" || fault === "container-killed")) return ["succeeded"];
  if (point === "build-record" && fault === "disk-full") return ["succeeded", "STORAGE_FULL"];
  // Held on its way to the slug writer or the store, /app may have been read whole already (in
  // layer mode the host reads it from the container's layer, and checks the container still stood
  // when it had read all of it).
  if ((point === "slug-compress" || point === "slug-store") && fault === "container-killed") return ["succeeded", "BUILD_CONTAINER_LOST"];
  return [EXPECTED_CODES[fault][0]!];
}

const REPO = path.resolve(import.meta.dirname, "../../..");
const BIN = path.join(REPO, "bin/slugforge.js");
export const TOKEN = "fault-token-0123456789";
const runtime = createDockerRuntime();

export class ServerProcess {
  proc?: ChildProcess;
  port = 0;
  log = "";
  /** Exits we did not ask for (a crash). */
  crashes: string[] = [];

  constructor(
    private readonly env: Record<string, string>,
  ) {}

  async start(): Promise<void> {
    const proc = spawn(process.execPath, [BIN, "serve"], { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...this.env }, stdio: ["ignore", "pipe", "pipe"] });
    this.proc = proc;
    let out = "";
    proc.stdout!.on("data", (b: Buffer) => (out += b.toString()));
    proc.stderr!.on("data", (b: Buffer) => (this.log = (this.log + b.toString()).slice(-200_000)));
    proc.on("exit", (code, signal) => {
      if (this.proc === proc && signal !== "SIGKILL" && signal !== "SIGTERM") this.crashes.push(`exit ${code} ${signal}: ${this.log.slice(-3000)}`);
    });
    for (let i = 0; i < 600; i++) {
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        this.port = Number(m[1]);
        return;
      }
      if (proc.exitCode !== null) break;
      await sleep(50);
    }
    throw new Error(`the server did not start:\n${out}\n${this.log}`);
  }

  /** kill -9, as a crash or an OOM killer would. */
  async killHard(): Promise<void> {
    const proc = this.proc!;
    this.proc = undefined;
    proc.kill("SIGKILL");
    if (proc.exitCode === null && proc.signalCode === null) await new Promise((r) => proc.once("exit", r));
  }

  /**
   * SIGTERM, as an operator stops it; resolves with how it exited. One still there after
   * `withinMs` is killed and the stop fails, with its log left in a file.
   */
  async stop(withinMs = 90_000): Promise<{ code: number | null; signal: string | null }> {
    const proc = this.proc;
    if (!proc) return { code: 0, signal: null };
    this.proc = undefined;
    const exited = new Promise<{ code: number | null; signal: string | null }>((r) => proc.once("exit", (code, signal) => r({ code, signal })));
    proc.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((r) => (timer = setTimeout(() => r("late"), withinMs)));
    const first = await Promise.race([exited, late]);
    clearTimeout(timer);
    if (first !== "late") {
      // A stopped server that something kept open exits on its own after a few seconds, naming it: shown, not failed.
      const leak = /slugforge: stopped, but still open[^\n]*/.exec(this.log);
      if (leak) console.warn(leak[0]);
      return first;
    }
    const file = path.join(os.tmpdir(), `slugforge-fault-stop-${proc.pid}.log`);
    await writeFile(file, this.log);
    proc.kill("SIGKILL");
    await exited;
    throw new Error(`the server did not stop within ${withinMs / 1000} s of SIGTERM (server log: ${file}); its last lines:\n${this.log.slice(-3000)}`);
  }

  url(app: string): string {
    return `http://git:${TOKEN}@127.0.0.1:${this.port}/${app}.git`;
  }

  async api<T>(method: string, p: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(`http://127.0.0.1:${this.port}${p}`, {
      method,
      headers: { Authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (/^[[{]/.test(text) ? JSON.parse(text) : text) as T };
  }
}

interface World {
  readonly fault: Fault;
  readonly dataDir: string;
  readonly failpoints: string;
  readonly server: ServerProcess;
  readonly git: GitClient;
  readonly work: string;
  readonly buildpackUrl: string;
  /** For disk-full: the small file system the data folder is on. */
  readonly disk?: string;
}

interface Build {
  id: string;
  commit: string;
  status: string;
  errorCode: string | null;
  slugId: string | null;
}

/** The matrix of one fault over every point; one server (restarted where the fault kills it). */
export function faultMatrix(fault: Fault): void {
  describe.sequential(`fault matrix: ${fault}`, () => {
    const dirs = tmpDirs();
    let world: World;
    const owners = new Set<string>();

    beforeAll(async () => {
      const root = await dirs.make(`sf-fault-${fault}-`);
      let base = root;
      if (fault === "disk-full") {
        // A small disk of its own, to fill: the data folder on a 192 MB tmpfs.
        base = path.join(root, "disk");
        await mkdir(base);
        await runChecked("mount", ["-t", "tmpfs", "-o", "size=192m", "tmpfs", base]);
      }
      const dataDir = path.join(base, "data");
      const failpoints = path.join(root, "failpoints");
      await mkdir(failpoints);
      const git = new GitClient(await dirs.make("sf-fault-home-"));
      const bpDir = await dirs.make("sf-fault-bp-");
      await cp(path.join(REPO, "test/fixtures/buildpacks/cacher"), bpDir, { recursive: true });
      await git.ok(["init", "-q", "-b", "main"], bpDir);
      await git.ok(["add", "-A"], bpDir);
      await git.ok(["commit", "-q", "-m", "cacher"], bpDir);
      const server = new ServerProcess({
        PORT: "0",
        SLUGFORGE_HOST: "127.0.0.1",
        SLUGFORGE_DATA: dataDir,
        SLUGFORGE_TOKEN: TOKEN,
        SLUGFORGE_BUILD_NETWORK: "none",
        SLUGFORGE_BUILD_MEMORY: "512MiB",
        SLUGFORGE_BUILDPACK_ROOTS: path.dirname(bpDir),
        SLUGFORGE_FAILPOINTS: failpoints,
        SLUGFORGE_BUILD_TIMEOUT: fault === "timeout" ? "12s" : "3m",
        SLUGFORGE_MIN_FREE_BYTES: fault === "disk-full" ? "24MiB" : "64MiB",
        SLUGFORGE_LOG_LEVEL: "debug",
        // Release images are the image tests' business: this server leaves the engine's images alone.
        SLUGFORGE_IMAGES: "off",
      });
      world = { fault, dataDir, failpoints, server, git, work: await dirs.make("sf-fault-work-"), buildpackUrl: `file://${bpDir}`, disk: fault === "disk-full" ? base : undefined };
      await server.start();
    }, 120_000);

    afterAll(async () => {
      if (!world) return;
      const stopped = await world.server.stop();
      // Stopped by the operator: every container it made is gone with it.
      for (const owner of owners) expect(await runtime.listContainers(`${OWNER_LABEL}=${owner}`)).toEqual([]);
      expect(stopped.code ?? 0).toBe(0);
      expect(integrityCheck(world.dataDir)).toBe("ok");
      expect(world.server.crashes).toEqual([]);
      if (world.disk) await runProcess("umount", ["-l", world.disk]);
      await dirs.cleanup();
    }, 120_000);

    for (const point of FAILPOINTS) {
      const why = NOT_APPLICABLE[fault][point];
      if (why) continue;
      it(`${fault} at ${point}: the server serves on, nothing is lost or left half-written`, async () => {
        owners.add(await ownerOf(world));
        try {
          await runCell(world, point);
        } catch (err) {
          // The server's own account of the cell, for whoever reads the failure.
          const file = path.join(os.tmpdir(), `slugforge-fault-${fault}-${point}.log`);
          await writeFile(file, world.server.log);
          throw new Error(`${(err as Error).message}\n(server log: ${file})`, { cause: err });
        }
        owners.add(await ownerOf(world));
      }, 300_000);
    }
  });
}

/** The owner label of the server's containers: its process identity. */
async function ownerOf(world: World): Promise<string> {
  const pid = world.server.proc!.pid!;
  const boot = (await readFile("/proc/sys/kernel/random/boot_id", "utf8")).trim();
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  return `${boot}/${pid}/${stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]}`;
}

async function runCell(world: World, point: Failpoint): Promise<void> {
  const { server, git, fault } = world;
  const app = appName(fault, point, "a");
  const other = appName(fault, point, "b");
  const workA = path.join(world.work, app);
  const workB = path.join(world.work, other);
  for (const [dir, name] of [[workA, app], [workB, other]] as const) {
    await git.initRepo(dir);
    await git.commit(dir, ".buildpacks", `${world.buildpackUrl}\n`, "buildpack");
    await git.commit(dir, "CACHE", "", "cacher");
    const first = await git.run(["push", server.url(name), "main"], dir);
    expect(first.code, `${name} first push: ${first.stderr}`).toBe(0);
  }
  await idle(world);

  // The push to hold, and the fault while it is held.
  // 16 MB of random bytes made by the build: /app takes a while to leave the container.
  const v2 = await git.commit(workA, "BULK_MB", "16\n", "v2");
  for (const stale of ["reached", "go"]) await rm(path.join(world.failpoints, `${app}.${stale}`), { force: true });
  await writeFile(path.join(world.failpoints, `${app}.arm`), point);
  const push = git.spawnTimed(["push", server.url(app), "main"], workA);
  await reached(world, app, push);

  let during: Promise<{ code: number; stderr: string }> | undefined;
  if (fault === "disconnect") {
    push.interrupt("SIGINT");
  } else if (fault === "disk-full") {
    await fillDisk(world.disk!);
  } else if (fault === "container-killed") {
    const ids = [...(await runtime.listContainers(`org.slugforge.app=${app}`)), ...(await runtime.listContainers(`org.slugforge.prepared-for=${app}`))];
    await Promise.all(ids.map((id) => runProcess("docker", ["rm", "-f", id])));
  } else if (fault === "server-killed") {
    await server.killHard();
  }
  // Another app's push meanwhile (a server that was killed has nothing to serve until it starts again).
  if (fault !== "server-killed") {
    await git.commit(workB, "during.txt", "during\n", "during");
    during = git.run(["push", server.url(other), "main"], workB);
  }
  const duringResult = await during;
  if (duringResult) {
    if (fault === "disk-full") {
      // A full disk refuses new pushes up front and says so, rather than failing half-way.
      expect(duringResult.code, duringResult.stderr).not.toBe(0);
      expect(duringResult.stderr).toContain("STORAGE_FULL");
    } else {
      expect(duringResult.code, `another app's push during the fault: ${duringResult.stderr}`).toBe(0);
    }
  }
  // Let go: a killed server starts again; a timed-out point gives up by itself at its deadline;
  // a full disk stays full until the held push has ended, so that the work after the point meets it.
  if (fault === "server-killed") await server.start();
  else if (fault !== "timeout") await letGo(world, app);
  const pushed = await withTimeout(push.done, 180_000, "the held push never ended");
  if (fault === "disk-full") await freeDisk(world.disk!);
  await settled(world, app);

  // The ref moved only with a release of that commit.
  const head = await refOf(world, app);
  const releasedCommits = await releasedCommitsOf(server, app);
  if (head === v2) expect(releasedCommits, "the ref moved to a commit that has no release").toContain(v2);
  if (pushed.code === 0) expect(head, `push exited 0 but the ref is not v2:\n${pushed.stderr}`).toBe(v2);
  // Every build has ended, and one that failed says why with a code.
  const builds = (await server.api<Build[]>("GET", `/api/apps/${app}/builds`)).body;
  for (const b of builds) {
    expect(["succeeded", "failed", "cancelled"], `build ${b.id} still ${b.status}`).toContain(b.status);
    if (b.status !== "succeeded") {
      expect(b.errorCode, `build ${b.id} failed without a code`).not.toBeNull();
      expect(EXPECTED_CODES[fault], `build ${b.id}: ${b.errorCode}`).toContain(b.errorCode);
    }
  }
  const held = builds.filter((b) => b.commit === v2);
  const outcome = held.length === 0 ? "none" : held.length > 1 ? "several builds" : held[0]!.status === "succeeded" ? "succeeded" : String(held[0]!.errorCode);
  expect(expectedOutcomes(fault, point), `the held push's build ended as: ${outcome}`).toContain(outcome);
  await noLeftovers(world, app);

  // The app, and the other, push again.
  await rm(path.join(workA, "BULK_MB"));
  for (const [dir, name] of [[workA, app], [workB, other]] as const) {
    await git.commit(dir, "v3.txt", "three\n", "v3");
    const again = await git.run(["push", server.url(name), "main"], dir);
    expect(again.code, `${name}'s next push: ${again.stderr}`).toBe(0);
  }
  await idle(world);
  for (const name of [app, other]) {
    const fsck = await runProcess("git", ["--git-dir", path.join(world.dataDir, "repos", `${name}.git`), "fsck", "--strict", "--no-progress"]);
    expect(fsck.code, `git fsck ${name}: ${fsck.stderr}`).toBe(0);
  }
  expect(integrityCheck(world.dataDir)).toBe("ok");
  await slugsVerify(world.dataDir);
  expect(world.server.crashes).toEqual([]);
  expect(world.server.log).not.toMatch(/uncaught|unhandled/i);
}

const FAULT_PREFIX: Readonly<Record<Fault, string>> = { disconnect: "dc", timeout: "to", "disk-full": "df", "container-killed": "ck", "server-killed": "sk" };

/**
 * App names per cell, unique over the whole matrix (the matrices run at once on one engine, and a
 * cell that removes its app's containers must not touch another's): `<fault>-<point>-<suffix>`.
 */
function appName(fault: Fault, point: Failpoint, suffix: string): string {
  return `${FAULT_PREFIX[fault]}-${point}-${suffix}`.slice(0, 30);
}

async function reached(world: World, app: string, push: TimedRun): Promise<void> {
  const file = path.join(world.failpoints, `${app}.reached`);
  for (let i = 0; i < 1200; i++) {
    if (await readFile(file, "utf8").then(() => true, () => false)) return;
    await sleep(50);
  }
  throw new Error(`${app} never reached its failpoint:\n${push.lines.map((l) => l.text).join("\n")}\n${world.server.log.slice(-4000)}`);
}

/** Lets the held point go on; the server takes the go file away when it sees it (a point given up on by a deadline never does). */
async function letGo(world: World, app: string): Promise<void> {
  const go = path.join(world.failpoints, `${app}.go`);
  await writeFile(go, "");
  for (let i = 0; i < 100 && (await readFile(go).then(() => true, () => false)); i++) await sleep(50);
}

/** Until the app's builds have all ended and background work is done. */
async function settled(world: World, app: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const builds = (await world.server.api<Build[]>("GET", `/api/apps/${app}/builds`)).body;
    if (Array.isArray(builds) && builds.every((b) => b.status !== "queued" && b.status !== "building")) break;
    await sleep(100);
  }
  await idle(world);
}

/** Until background work (cache saves and copies) is done. */
async function idle(world: World): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const metrics = await world.server.api<string>("GET", "/metrics").catch(() => undefined);
    if (metrics && /slugforge_cache_copies_pending 0\b/.test(metrics.body)) return;
    await sleep(100);
  }
  throw new Error("background cache work never finished");
}

async function refOf(world: World, app: string): Promise<string | undefined> {
  const r = await runProcess("git", ["--git-dir", path.join(world.dataDir, "repos", `${app}.git`), "rev-parse", "--verify", "-q", "refs/heads/main"]);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

async function releasedCommitsOf(server: ServerProcess, app: string): Promise<string[]> {
  const releases = (await server.api<{ slugId: string | null }[]>("GET", `/api/apps/${app}/releases`)).body;
  const commits: string[] = [];
  for (const r of releases) {
    if (!r.slugId) continue;
    const slug = (await server.api<{ commit: string }>("GET", `/api/slugs/${r.slugId}`)).body;
    commits.push(slug.commit);
  }
  return commits;
}

/** No temp files, working copies, quarantines or half-deleted folders; no build container of the app. */
async function noLeftovers(world: World, app: string): Promise<void> {
  const leftovers: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(dir, entry.name);
      if (/^\.tmp-|^\.work-|^\.old-|^\.deleted-|^tmp_objdir-incoming-|\.tmp-[0-9a-f-]+/.test(entry.name)) leftovers.push(path.relative(world.dataDir, p));
      if (entry.isDirectory() && entry.name !== "objects") await walk(p);
      else if (entry.isDirectory()) {
        for (const o of await readdir(p).catch(() => [] as string[])) if (o.startsWith("tmp_objdir-incoming-")) leftovers.push(path.relative(world.dataDir, path.join(p, o)));
      }
    }
  };
  for (let i = 0; i < 100; i++) {
    leftovers.length = 0;
    await walk(world.dataDir);
    const containers = await runtime.listContainers(`org.slugforge.app=${app}`);
    if (leftovers.length === 0 && containers.length === 0) return;
    await sleep(100);
  }
  expect(leftovers, "temp files left behind").toEqual([]);
  expect(await runtime.listContainers(`org.slugforge.app=${app}`), "build containers left behind").toEqual([]);
}

/** Every slug file hashes to its name. */
async function slugsVerify(dataDir: string): Promise<void> {
  const root = path.join(dataDir, "slugs", "sha256");
  for (const prefix of await readdir(root).catch(() => [] as string[])) {
    for (const name of await readdir(path.join(root, prefix)).catch(() => [] as string[])) {
      const hash = createHash("sha256");
      await pipeline(createReadStream(path.join(root, prefix, name)), hash);
      expect(`${hash.digest("hex")}.tar.gz`, `slug file ${name}`).toBe(name);
    }
  }
}

export function integrityCheck(dataDir: string): string {
  const db = new Database(path.join(dataDir, "metadata.db"), { readonly: true, fileMustExist: true });
  try {
    return String(db.pragma("integrity_check", { simple: true }));
  } finally {
    db.close();
  }
}

export async function fillDisk(disk: string): Promise<void> {
  // Less a margin: the free count moves while the server writes (its log and records, and a slug
  // being written while bin/release is held). When even that was too much, a wider margin.
  for (let margin = 512 * 1024; ; margin *= 4) {
    const s = await statfs(disk);
    const free = Number(s.bavail) * Number(s.bsize);
    if (free <= 2 * margin) break;
    const r = await runProcess("fallocate", ["-l", String(free - margin), path.join(disk, "fill")]);
    if (r.code === 0) break;
    if (!/No space left/.test(r.stderr) || margin > 64 * 1024 * 1024) throw new Error(`fallocate of ${free - margin} bytes failed: ${r.stderr.trim()}`);
  }
  // What fallocate leaves (a few blocks): filled byte by byte until the disk says no.
  await runProcess("dd", ["if=/dev/zero", `of=${path.join(disk, "fill-rest")}`, "bs=4096"]);
}

export async function freeDisk(disk: string): Promise<void> {
  await rm(path.join(disk, "fill"), { force: true });
  await rm(path.join(disk, "fill-rest"), { force: true });
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(what)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
