import { bootAndProbe } from "../../src/buildpack-test/boot-probe.js";
import { execFile } from "node:child_process";
import { createReadStream, createWriteStream } from "node:fs";
import { lstat, mkdtemp, readdir, readFile, readlink, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import tar from "tar-stream";
import type { Container, ContainerRuntime, Mount } from "../../src/docker/container-runtime.js";
import { createDockerRuntime } from "../../src/docker/dockerode-runtime.js";

/**
 * Runs a buildpack the way slugforge does (detect, compile, release in the stack's build image as
 * user slug, network none), without the server: for testing buildpacks directly. The slug can then
 * be booted on the run image and asked for a page.
 *
 *   const h = createBuildpackHarness();
 *   const build = await h.build({ buildpackDir, appDir });
 *   const page = await h.boot(build);           // starts the Procfile's web process
 *   await h.cleanup();
 */

export const STACK = "debian-13";
export const BUILD_IMAGE = `slugforge/stack:${STACK}-build`;
export const RUN_IMAGE = `slugforge/stack:${STACK}-run`;
const CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const SLUG_UID = 1000;

type EntryHeader = Parameters<tar.Pack["entry"]>[0];
type EntryStream = tar.ExtractEvents["entry"][1];
/** tar-stream's streams are streamx streams; Docker and pipeline() accept them as Node streams. */
const asReadable = (pack: tar.Pack): Readable => pack as unknown as Readable;

export interface StepResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout and stderr interleaved as they arrived. */
  readonly output: string;
  readonly ms: number;
}

export interface BuildOptions {
  /** Host directory of the buildpack (bin/detect, bin/compile, bin/release). */
  readonly buildpackDir: string;
  /** Host directory of the app's source; may be omitted when `files` gives all of it. */
  readonly appDir?: string;
  /** Files added to (or replacing those of) the app: path relative to the app root -> contents. */
  readonly files?: Readonly<Record<string, string | { content: string; mode: number }>>;
  /** Paths of `appDir` left out of the app (relative to its root). */
  readonly omit?: readonly string[];
  /** Config vars, written one file per var into ENV_DIR. */
  readonly configVars?: Readonly<Record<string, string>>;
  /** The cache of an earlier successful build (BuildResult.cacheTar), restored into CACHE_DIR. */
  readonly cacheTar?: string;
  readonly mounts?: readonly Mount[];
  readonly stack?: string;
  readonly sourceVersion?: string;
  /** Stop after bin/detect (faster, for detection tests). */
  readonly detectOnly?: boolean;
}

export interface BuildResult {
  readonly detect: StepResult;
  readonly compile?: StepResult;
  readonly release?: StepResult;
  /** True when detect, compile and release all exited 0. */
  readonly ok: boolean;
  /** Tar of /app after the build (entries under app/), when the build succeeded. */
  readonly slugTar?: string;
  /** Tar of CACHE_DIR after the build (entries under cache/), when the build succeeded. */
  readonly cacheTar?: string;
  /** Procfile entries over the release's default_process_types. */
  readonly processTypes: Readonly<Record<string, string>>;
}

export interface BootOptions {
  readonly processType?: string;
  /** Request path; default "/". */
  readonly path?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutSeconds?: number;
  /** Extra shell run after the request, inside the booted container (e.g. to inspect files). */
  readonly afterRequest?: string;
}

export interface BootResult {
  /** HTTP status of the answer, 0 when the process never answered. */
  readonly status: number;
  readonly body: string;
  /** Output of the web process and of the boot script. */
  readonly log: string;
}

export interface BuildpackHarness {
  build(options: BuildOptions): Promise<BuildResult>;
  boot(build: BuildResult, options?: BootOptions): Promise<BootResult>;
  /** Reads one file of the slug (path relative to /app), or undefined when absent. */
  readSlugFile(build: BuildResult, file: string): Promise<string | undefined>;
  /** Paths (relative to /app) of every entry in the slug. */
  listSlug(build: BuildResult): Promise<string[]>;
  cleanup(): Promise<void>;
}

export function createBuildpackHarness(runtime: ContainerRuntime = createDockerRuntime()): BuildpackHarness {
  const tempDirs: string[] = [];
  const newTempDir = async (): Promise<string> => {
    const dir = await mkdtemp(path.join(tmpdir(), "slugforge-bp-"));
    tempDirs.push(dir);
    return dir;
  };

  return {
    async build(options) {
      const stack = options.stack ?? STACK;
      const container = await runtime.start({
        image: `slugforge/stack:${STACK}-build`,
        network: "none",
        hardened: true,
        memoryBytes: 2 * 1024 ** 3,
        pidsLimit: 512,
        mounts: options.mounts,
        labels: { "org.slugforge.test": "buildpack-harness" },
      });
      try {
        await container.putArchive(await packApp(options), "/app");
        await container.putArchive(packDir(options.buildpackDir, "buildpacks/0-python"), "/tmp");
        await container.putArchive(packFiles(options.configVars ?? {}), "/tmp/env");
        if (options.cacheTar) await container.putArchive(createReadStream(options.cacheTar), "/tmp");

        const env = {
          STACK: stack,
          SOURCE_VERSION: options.sourceVersion ?? "0123456789abcdef0123456789abcdef01234567",
          HOME: "/app",
          REQUEST_ID: `test-${Date.now()}`,
          PATH: CLEAN_PATH,
          LANG: "C.UTF-8",
        };
        const bp = "/tmp/buildpacks/0-python";
        const exec = (cmd: string[]): Promise<StepResult> => execStep(container, cmd, { env, user: "slug", workdir: "/app" });

        const detect = await exec([`${bp}/bin/detect`, "/app"]);
        if (detect.code !== 0 || options.detectOnly) return { detect, ok: detect.code === 0, processTypes: {} };
        const compile = await exec([`${bp}/bin/compile`, "/app", "/tmp/cache", "/tmp/env"]);
        if (compile.code !== 0) return { detect, compile, ok: false, processTypes: {} };
        const release = await exec([`${bp}/bin/release`, "/app"]);
        if (release.code !== 0) return { detect, compile, release, ok: false, processTypes: {} };

        const dir = await newTempDir();
        const slugTar = path.join(dir, "slug.tar");
        const cacheTar = path.join(dir, "cache.tar");
        await pipeline(await container.getArchive("/app"), createWriteStream(slugTar));
        await pipeline(await container.getArchive("/tmp/cache"), createWriteStream(cacheTar));
        const procfile = await readTarFile(slugTar, "app/Procfile");
        const processTypes = { ...parseDefaultProcessTypes(release.stdout), ...parseProcfile(procfile ?? "") };
        return { detect, compile, release, ok: true, slugTar, cacheTar, processTypes };
      } finally {
        await container.remove();
      }
    },

    async boot(build, options = {}) {
      if (!build.slugTar) throw new Error("boot: the build did not succeed, there is no slug");
      const type = options.processType ?? "web";
      const command = build.processTypes[type];
      if (!command) throw new Error(`boot: no '${type}' process (process types: ${JSON.stringify(build.processTypes)})`);
      const answer = await bootAndProbe(runtime, createReadStream(build.slugTar), {
        stack: STACK,
        network: "none",
        mounts: [],
        command,
        processType: type,
        path: options.path ?? "/",
        env: options.env ?? {},
        timeoutMs: (options.timeoutSeconds ?? 30) * 1000,
        signal: new AbortController().signal,
        labels: { "org.slugforge.test": "buildpack-harness" },
        afterRequest: options.afterRequest,
      });
      return { ...answer };
    },

    async readSlugFile(build, file) {
      if (!build.slugTar) return undefined;
      return readTarFile(build.slugTar, `app/${file}`);
    },

    async listSlug(build) {
      if (!build.slugTar) return [];
      const names: string[] = [];
      await walkTar(build.slugTar, async (header, stream) => {
        names.push(header.name.replace(/^app\/?/, "").replace(/\/$/, ""));
        stream.resume();
      });
      return names.filter((n) => n !== "");
    },

    async cleanup() {
      await Promise.all(tempDirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
    },
  };
}

const execFileP = promisify(execFile);

/**
 * Makes (or finds, when it is up to date) the wheelhouse of Debian-built wheels with
 * scripts/make-wheelhouse.sh, and returns a read-only mount of it at /wheelhouse plus the config
 * vars that point pip at it.
 */
export async function ensureWheelhouse(): Promise<{ mount: Mount; configVars: Record<string, string>; dir: string }> {
  const repo = path.resolve(import.meta.dirname, "../..");
  const dir = process.env.SLUGFORGE_WHEELHOUSE ?? path.join(repo, ".slugforge/wheelhouse/debian-13");
  await execFileP("bash", [path.join(repo, "scripts/make-wheelhouse.sh"), dir], { timeout: 300_000 });
  return {
    dir,
    mount: { host: dir, container: "/wheelhouse", readOnly: true },
    configVars: { PIP_FIND_LINKS: "/wheelhouse", PIP_NO_INDEX: "1" },
  };
}

/**
 * Makes (or finds, when it is up to date) the Python runtime archives of scripts/make-python-runtime.sh
 * (Python 3.11 from Debian bookworm), and returns a read-only mount of their folder at /runtimes plus
 * the config vars an operator would set to offer them.
 */
export async function ensurePythonRuntimes(): Promise<{
  mount: Mount;
  configVars: Record<string, string>;
  dir: string;
  versions: string[];
}> {
  const repo = path.resolve(import.meta.dirname, "../..");
  const dir = process.env.SLUGFORGE_PYTHON_RUNTIMES ?? path.join(repo, ".slugforge/runtimes");
  await execFileP("bash", [path.join(repo, "scripts/make-python-runtime.sh"), dir], { timeout: 300_000 });
  const versions = (await readFile(path.join(dir, "VERSIONS"), "utf8")).trim().split(/\s+/);
  return {
    dir,
    versions,
    mount: { host: dir, container: "/runtimes", readOnly: true },
    configVars: {
      PYTHON_RUNTIME_URL_TEMPLATE: "file:///runtimes/python-{version}-{stack}.tar.gz",
      PYTHON_RUNTIME_VERSIONS: versions.join(" "),
    },
  };
}

/** Procfile lines `name: command`; comments and blank lines ignored. */
export function parseProcfile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^([A-Za-z0-9_-]+):\s*(.+?)\s*$/.exec(line);
    if (m?.[1] && m[2]) out[m[1]] = m[2];
  }
  return out;
}

/** The `default_process_types` map of a bin/release YAML (the simple shape buildpacks print). */
export function parseDefaultProcessTypes(yaml: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = yaml.split(/\r?\n/);
  const start = lines.findIndex((l) => /^default_process_types:\s*$/.test(l));
  if (start < 0) return out;
  for (const line of lines.slice(start + 1)) {
    const m = /^\s+([A-Za-z0-9_-]+):\s*(.+?)\s*$/.exec(line);
    if (!m?.[1] || !m[2]) break;
    out[m[1]] = m[2];
  }
  return out;
}

async function execStep(
  container: Container,
  cmd: string[],
  options: { env: Record<string, string>; user: string; workdir: string },
): Promise<StepResult> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const both: Buffer[] = [];
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.on("data", (b: Buffer) => (out.push(b), both.push(b)));
  stderr.on("data", (b: Buffer) => (err.push(b), both.push(b)));
  const started = Date.now();
  const code = await container.exec(cmd, { ...options, stdout, stderr });
  const text = (bufs: Buffer[]): string => Buffer.concat(bufs).toString("utf8");
  return { code, stdout: text(out), stderr: text(err), output: text(both), ms: Date.now() - started };
}

/** A tar of the app's files (owned by the stack user), with `files` laid over them. */
async function packApp(options: BuildOptions): Promise<Readable> {
  const pack = tar.pack();
  const overlay = options.files ?? {};
  void (async () => {
    try {
      const omit = new Set(options.omit ?? []);
      if (options.appDir) await addDir(pack, options.appDir, "", (rel) => rel in overlay || omit.has(rel));
      for (const [name, value] of Object.entries(overlay)) {
        const { content, mode } = typeof value === "string" ? { content: value, mode: 0o644 } : value;
        await addEntry(pack, { name, mode, uid: SLUG_UID, gid: SLUG_UID }, Buffer.from(content));
      }
      pack.finalize();
    } catch (err) {
      pack.destroy(err as Error);
    }
  })();
  return asReadable(pack);
}

/** A tar of a host directory under `prefix`, owned by the stack user. */
function packDir(dir: string, prefix: string): Readable {
  const pack = tar.pack();
  void (async () => {
    try {
      const parts = prefix.split("/");
      for (let i = 1; i <= parts.length; i++) {
        await addEntry(pack, { name: parts.slice(0, i).join("/"), type: "directory", mode: 0o755, uid: SLUG_UID, gid: SLUG_UID });
      }
      await addDir(pack, dir, prefix, () => false);
      pack.finalize();
    } catch (err) {
      pack.destroy(err as Error);
    }
  })();
  return asReadable(pack);
}

function packFiles(files: Readonly<Record<string, string>>): Readable {
  const pack = tar.pack();
  void (async () => {
    for (const [name, content] of Object.entries(files)) {
      await addEntry(pack, { name, mode: 0o644, uid: SLUG_UID, gid: SLUG_UID }, Buffer.from(content));
    }
    pack.finalize();
  })();
  return asReadable(pack);
}

async function addDir(pack: tar.Pack, root: string, prefix: string, skip: (rel: string) => boolean): Promise<void> {
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(path.join(root, rel), { withFileTypes: true });
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const entry of entries) {
      const relPath = rel ? `${rel}/${entry.name}` : entry.name;
      if (relPath === ".git" || skip(relPath)) continue;
      const full = path.join(root, relPath);
      const st = await lstat(full);
      const name = prefix ? `${prefix}/${relPath}` : relPath;
      const base = { name, mode: st.mode & 0o7777, uid: SLUG_UID, gid: SLUG_UID, mtime: st.mtime };
      if (st.isSymbolicLink()) {
        await addEntry(pack, { ...base, type: "symlink", linkname: await readlink(full) });
      } else if (st.isDirectory()) {
        await addEntry(pack, { ...base, type: "directory" });
        await walk(relPath);
      } else if (st.isFile()) {
        await addEntry(pack, base, await readFile(full));
      }
    }
  };
  await walk("");
}

function addEntry(pack: tar.Pack, header: EntryHeader, content?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry(header, content ?? "", (err) => (err ? reject(err) : resolve()));
  });
}

/** Calls onEntry for each entry of a tar file; onEntry must consume or resume the entry's stream. */
async function walkTar(file: string, onEntry: (header: tar.Header, stream: EntryStream) => Promise<void>): Promise<void> {
  const extract = tar.extract();
  extract.on("entry", (header, stream, next) => {
    stream.on("end", () => next());
    onEntry(header, stream).catch((err: unknown) => extract.destroy(err as Error));
  });
  await pipeline(createReadStream(file), extract);
}

async function readTarFile(file: string, name: string): Promise<string | undefined> {
  let found: string | undefined;
  await walkTar(file, async (header, stream) => {
    if (header.name === name && header.type === "file") {
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      found = Buffer.concat(chunks).toString("utf8");
    } else {
      stream.resume();
    }
  });
  return found;
}
