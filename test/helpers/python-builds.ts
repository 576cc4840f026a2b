import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { cp, mkdir, mkdtemp, readFile, rm, writeFile, chmod } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { createGunzip } from "node:zlib";
import tar from "tar-stream";
import { bootAndProbe } from "../../src/buildpack-test/boot-probe.js";
import { BuildCaches } from "../../src/builds/build-caches.js";
import { createBuildPrinter } from "../../src/builds/build-printer.js";
import { BuildSession, type SessionDeps } from "../../src/builds/session.js";
import { createBuildpackResolver } from "../../src/buildpacks/resolve-buildpacks.js";
import { parseConfig } from "../../src/config/parse-config.js";
import type { ContainerRuntime, ContainerSpec, Mount } from "../../src/docker/container-runtime.js";
import { createDockerRuntime } from "../../src/docker/dockerode-runtime.js";
import { isSlugforgeError } from "../../src/errors.js";
import { silentLogger } from "../../src/log.js";
import { createFsSlugStore } from "../../src/slug/fs-slug-store.js";
import { runChecked } from "../../src/util/run-process.js";

/**
 * The Python buildpack (or any one buildpack) built through slugforge's own build session, the one
 * a push goes through: the app committed to a git repo, a container per build on the stack's build
 * image (network none), the caches kept in the container's layer between builds of the same app,
 * the slug in a slug store. No Buildpack-API runner of its own: only the bookkeeping tests need.
 *
 *   const b = createSessionBuilds();
 *   const first = await b.build({ buildpackDir, appDir });
 *   const warm = await b.build({ buildpackDir, appDir, cacheFrom: first });   // same app: its cache
 *   const page = await b.boot(first);
 *   await b.cleanup();
 */

export const STACK = "debian-13";

export interface StepResult {
  /** The program's exit code (detect, compile, release); 0 when the step succeeded. */
  readonly code: number;
  /** What the pusher would have seen of the step, stdout and stderr as they came. */
  readonly output: string;
  readonly ms: number;
}

export interface DetectResult extends StepResult {
  /** bin/detect's stdout and stderr. */
  readonly stdout: string;
  readonly stderr: string;
}

export interface BuildOptions {
  /** Host directory of the buildpack. */
  readonly buildpackDir: string;
  /** Host directory of the app's source; may be omitted when `files` gives all of it. */
  readonly appDir?: string;
  /** Files added to (or replacing those of) the app: path relative to the app root -> contents. */
  readonly files?: Readonly<Record<string, string | { content: string; mode: number }>>;
  /** Paths of `appDir` left out of the app (relative to its root). */
  readonly omit?: readonly string[];
  /** Config vars, in ENV_DIR. */
  readonly configVars?: Readonly<Record<string, string>>;
  /** An earlier build whose app this build is (so it starts from the cache that one kept). */
  readonly cacheFrom?: SessionBuild;
  readonly mounts?: readonly Mount[];
  /** Stop after bin/detect (faster, for detection tests). */
  readonly detectOnly?: boolean;
  /**
   * The stack the server is configured for (SLUGFORGE_STACK, hence the buildpacks' STACK), when
   * not the shipped one; its build image is the shipped stack's under that name.
   */
  readonly stack?: string;
}

export interface SessionBuild {
  /** The app's name: its kept caches are found by it. */
  readonly app: string;
  readonly commit: string;
  readonly detect: DetectResult;
  readonly compile?: StepResult;
  readonly release?: StepResult & { readonly yaml: string };
  /** True when detect, compile, release and the slug all succeeded. */
  readonly ok: boolean;
  readonly slugId?: string;
  /** Procfile entries over the release's default_process_types. */
  readonly processTypes: Readonly<Record<string, string>>;
}

export interface BootOptions {
  readonly processType?: string;
  readonly path?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutSeconds?: number;
  /** Extra shell run after the request, inside the booted container (e.g. to inspect files). */
  readonly afterRequest?: string;
}

export interface SessionBuilds {
  build(options: BuildOptions): Promise<SessionBuild>;
  boot(build: SessionBuild, options?: BootOptions): Promise<{ status: number; body: string; log: string }>;
  /** One file of the slug (path relative to /app), or undefined when absent. */
  readSlugFile(build: SessionBuild, file: string): Promise<string | undefined>;
  /** Paths (relative to /app) of every entry in the slug. */
  listSlug(build: SessionBuild): Promise<string[]>;
  cleanup(): Promise<void>;
}

export function createSessionBuilds(runtime: ContainerRuntime = createDockerRuntime()): SessionBuilds {
  let root: string | undefined;
  let caches: BuildCaches | undefined;
  const log = silentLogger();
  const dataDir = async (): Promise<string> => (root ??= await mkdtemp(path.join(tmpdir(), "slugforge-session-builds-")));
  const slugStore = async () => createFsSlugStore(path.join(await dataDir(), "slugs"));

  const readSlug = async (build: SessionBuild, each: (name: string, body: Readable) => Promise<void>): Promise<void> => {
    if (!build.slugId) return;
    const stream = await (await slugStore()).get(build.slugId);
    if (!stream) throw new Error(`slug ${build.slugId} is not in the store`);
    const extract = tar.extract();
    extract.on("entry", (header, body, next) => {
      each(header.name.replace(/^\.\/app\/?/, "").replace(/\/$/, ""), body as unknown as Readable).then(() => next(), next);
    });
    await pipeline(stream, createGunzip(), extract as unknown as Writable);
  };

  return {
    async build(options) {
      const dir = await dataDir();
      caches ??= new BuildCaches({ cacheDir: path.join(dir, "cache"), log });
      const stack = options.stack ?? STACK;
      const parsed = parseConfig({
        SLUGFORGE_DATA: dir,
        SLUGFORGE_STACK: stack,
        SLUGFORGE_BUILD_NETWORK: "none",
        SLUGFORGE_BUILD_MEMORY: "2GiB",
        SLUGFORGE_BUILD_MOUNTS: (options.mounts ?? []).map((m) => `${m.host}:${m.container}:${m.readOnly ? "ro" : "rw"}`).join(","),
      });
      if (!parsed.config) throw new Error(parsed.errors.join("; "));
      const deps: SessionDeps = {
        runtime: stack === STACK ? runtime : imageAlias(runtime, `slugforge/stack:${stack}-build`, `slugforge/stack:${STACK}-build`),
        config: parsed.config,
        caches,
        slugStore: await slugStore(),
        serverId: "session-builds",
        // The buildpack as a server that ships it alone has it: a push chooses it as it chooses a shipped one.
        buildpacks: createBuildpackResolver({
          shippedDir: path.dirname(options.buildpackDir),
          shippedOrder: [path.basename(options.buildpackDir)],
          gitCacheDir: path.join(dir, "buildpacks"),
        }),
      };
      const app = options.cacheFrom?.app ?? `py-${randomUUID().slice(0, 8)}`;
      const { gitDir, commit } = await commitApp(path.join(dir, "repos", randomUUID()), options);

      let output = "";
      const out = createBuildPrinter({ write: (chunk) => void (output += chunk.toString()) });
      const session = new BuildSession(deps, { buildId: randomUUID(), app, commit, source: { gitDir }, out, log, signal: new AbortController().signal });
      const step = async <T>(work: () => Promise<T>): Promise<{ value?: T; result: StepResult; error?: unknown }> => {
        output = "";
        const started = Date.now();
        try {
          const value = await work();
          return { value, result: { code: 0, output, ms: Date.now() - started } };
        } catch (error) {
          const code = isSlugforgeError(error) && typeof error.data.exitCode === "number" ? error.data.exitCode : 1;
          return { error, result: { code, output, ms: Date.now() - started } };
        }
      };
      try {
        await session.open();
        const source = await session.source();
        const detected = await step(() => session.detect({ configVars: options.configVars ?? {} }));
        const detections = detected.value?.detections ?? (isSlugforgeError(detected.error) ? (detected.error.data.detections as { exitCode: number; stdout: string; stderr: string }[] | undefined) : undefined);
        const first = detections?.[0];
        if (!first) throw detected.error;
        const detect: DetectResult = { ...detected.result, code: first.exitCode, stdout: first.stdout, stderr: first.stderr };
        const buildpacks = detected.value?.buildpacks;
        // Detection alone is "ok" when the buildpack accepted the app.
        if (!buildpacks || options.detectOnly) return { app, commit, detect, ok: buildpacks !== undefined, processTypes: {} };

        const compiled = await step(async () => {
          await session.writeEnv(options.configVars ?? {});
          await session.restoreCaches(buildpacks);
          await session.compile(buildpacks);
        });
        if (compiled.error) return { app, commit, detect, compile: compiled.result, ok: false, processTypes: {} };
        const released = await step(() => session.release(buildpacks));
        const release = { ...released.result, yaml: released.value?.yaml ?? "" };
        if (!released.value) return { app, commit, detect, compile: compiled.result, release, ok: false, processTypes: {} };
        const slug = await session.slug(source.sourceDate);
        await session.keepCaches(buildpacks);
        return { app, commit, detect, compile: compiled.result, release, ok: true, slugId: slug.id, processTypes: released.value.processTypes };
      } finally {
        await session.close();
        // The next build of the app starts from what this one kept.
        await caches.settled(app);
      }
    },

    async boot(build, options = {}) {
      if (!build.slugId) throw new Error("boot: the build did not succeed, there is no slug");
      const type = options.processType ?? "web";
      const command = build.processTypes[type];
      if (!command) throw new Error(`boot: no '${type}' process (process types: ${JSON.stringify(build.processTypes)})`);
      const slug = await (await slugStore()).get(build.slugId);
      if (!slug) throw new Error(`slug ${build.slugId} is not in the store`);
      return bootAndProbe(runtime, slug, {
        stack: STACK,
        network: "none",
        mounts: [],
        command,
        processType: type,
        path: options.path ?? "/",
        env: options.env ?? {},
        timeoutMs: (options.timeoutSeconds ?? 30) * 1000,
        signal: new AbortController().signal,
        labels: { "org.slugforge.test": "session-builds" },
        afterRequest: options.afterRequest,
      });
    },

    async readSlugFile(build, file) {
      let found: string | undefined;
      await readSlug(build, async (name, body) => {
        const parts: Buffer[] = [];
        for await (const chunk of body) parts.push(chunk as Buffer);
        if (name === file) found = Buffer.concat(parts).toString("utf8");
      });
      return found;
    },

    async listSlug(build) {
      const names: string[] = [];
      await readSlug(build, async (name, body) => {
        names.push(name);
        body.resume();
        await new Promise((resolve) => body.on("end", resolve));
      });
      return names.filter((n) => n !== "");
    },

    async cleanup() {
      await caches?.close();
      if (root) await rm(root, { recursive: true, force: true });
    },
  };
}

/** The runtime, with the image `alias` being `image` (a stack this engine has no image of). */
function imageAlias(runtime: ContainerRuntime, alias: string, image: string): ContainerRuntime {
  const ref = (name: string): string => (name === alias ? image : name);
  return new Proxy(runtime, {
    get(target, prop, receiver) {
      if (prop === "create" || prop === "start") return (spec: ContainerSpec) => target[prop]({ ...spec, image: ref(spec.image) });
      if (prop === "inspectImage") return (name: string) => target.inspectImage(ref(name));
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** The app (`appDir` less `omit`, plus `files`) as one commit in a bare repo. */
async function commitApp(base: string, options: BuildOptions): Promise<{ gitDir: string; commit: string }> {
  const work = path.join(base, "work");
  const gitDir = path.join(base, "repo.git");
  await mkdir(work, { recursive: true });
  // verbatimSymlinks: fs.cp would otherwise point a relative link at the absolute path of its host target.
  if (options.appDir) await cp(options.appDir, work, { recursive: true, verbatimSymlinks: true });
  for (const p of options.omit ?? []) await rm(path.join(work, p), { recursive: true, force: true });
  for (const [name, value] of Object.entries(options.files ?? {})) {
    const file = path.join(work, name);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, typeof value === "string" ? value : value.content);
    if (typeof value !== "string") await chmod(file, value.mode);
  }
  const env = {
    PATH: process.env.PATH,
    HOME: base,
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_DIR: gitDir,
    GIT_WORK_TREE: work,
    GIT_AUTHOR_NAME: "t",
    GIT_AUTHOR_EMAIL: "t@example.com",
    GIT_COMMITTER_NAME: "t",
    GIT_COMMITTER_EMAIL: "t@example.com",
  };
  // git init refuses GIT_WORK_TREE (and a bare repository needs none): the repository is named by its argument.
  const { GIT_DIR: _dir, GIT_WORK_TREE: _work, ...initEnv } = env;
  await runChecked("git", ["init", "--quiet", "--bare", "--initial-branch=main", gitDir], { env: initEnv });
  await runChecked("git", ["add", "-A", "-f"], { env });
  await runChecked("git", ["commit", "--quiet", "--allow-empty", "-m", "app"], { env });
  return { gitDir, commit: (await runChecked("git", ["rev-parse", "HEAD"], { env })).stdout.trim() };
}

const execFileP = promisify(execFile);
const REPO = path.resolve(import.meta.dirname, "../..");

/**
 * Makes (or finds, when it is up to date) the wheelhouse of Debian-built wheels with
 * scripts/make-wheelhouse.sh, and returns a read-only mount of it at /wheelhouse plus the config
 * vars that point pip at it.
 */
export async function ensureWheelhouse(): Promise<{ mount: Mount; configVars: Record<string, string>; dir: string }> {
  const dir = process.env.SLUGFORGE_WHEELHOUSE ?? path.join(REPO, ".slugforge/wheelhouse/debian-13");
  await execFileP("bash", [path.join(REPO, "scripts/make-wheelhouse.sh"), dir], { timeout: 300_000 });
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
export async function ensurePythonRuntimes(): Promise<{ mount: Mount; configVars: Record<string, string>; dir: string; versions: string[] }> {
  const dir = process.env.SLUGFORGE_PYTHON_RUNTIMES ?? path.join(REPO, ".slugforge/runtimes");
  await execFileP("bash", [path.join(REPO, "scripts/make-python-runtime.sh"), dir], { timeout: 300_000 });
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
