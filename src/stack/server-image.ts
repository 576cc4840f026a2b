import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import type { ContainerRuntime, ImageBuilder, ImageInfo } from "../docker/container-runtime.js";
import { SlugforgeError } from "../errors.js";
import { shortId, type StackBuildOptions } from "./build-stack.js";
import { ensureNodeBase } from "./node-base.js";
import { tarOut, type TarOut } from "../util/tar-out.js";

/*
 * `npm run image`: slugforge's own server image, from the Dockerfile at the top of the checkout.
 *
 * The base is the Dockerfile's BASE_IMAGE build argument: the official Node image where the engine
 * has it or can pull it, else one made here from Debian packages (node-base.ts), as the stack
 * images are. The build context is made here rather than by `docker build .`: it holds dist/ as
 * `npm run build` left it and the production part of node_modules/ (the lock file's packages not
 * marked dev), so the Dockerfile's build stage finds them and runs no npm. Builds on this kind of
 * machine cannot reach the npm registry (its TLS is intercepted by a proxy whose CA a container
 * does not trust) nor the prebuilt better-sqlite3 binaries (GitHub), and node-gyp inside would need
 * a compiler and Node's headers in the base; the host has them all already. The host's Node must
 * then be the base's major version (the native module's ABI): the Dockerfile loads better-sqlite3
 * once to check. `docker build .` from a checkout takes the other branch of the build stage
 * (`npm ci` and `tsc` inside), for machines with a registry.
 */

/** The usual official image, the Dockerfile's default BASE_IMAGE. */
export const DEFAULT_BASE_IMAGE = "node:20-bookworm-slim";
export const SERVER_REPOSITORY = "slugforge/server";
/** Labels of the server image, and of the untagged build stage a build leaves (pruned after). */
export const SERVER_LABELS = { role: "org.slugforge.role", version: "org.slugforge.version", stage: "org.slugforge.stage" } as const;

export interface ServerImageOptions {
  readonly runtime: ContainerRuntime & ImageBuilder;
  /** The checkout: Dockerfile, package.json, dist/ (built), node_modules/. */
  readonly repoDir: string;
  /** Scratch space for debootstrap when the base is made here. */
  readonly workDir: string;
  readonly say: (line: string) => void;
  /** BASE_IMAGE as given (pulled when missing); default: DEFAULT_BASE_IMAGE, else the Debian-made base. */
  readonly base?: string;
  /** Names for the image; default `slugforge/server:<version>` and `:latest`. */
  readonly tags?: readonly string[];
  /** Each line the engine prints while building (default: said, indented). */
  readonly onBuildLine?: (line: string) => void;
  readonly mirror?: string;
}

export interface ServerImage {
  readonly tags: readonly string[];
  readonly image: ImageInfo;
  /** The BASE_IMAGE it was built on, and why that one. */
  readonly base: string;
  readonly baseWhy: string;
}

export async function buildServerImage(options: ServerImageOptions): Promise<ServerImage> {
  const { runtime, repoDir, say } = options;
  const pkg = JSON.parse(readFileSync(path.join(repoDir, "package.json"), "utf8")) as { version: string };
  if (!existsSync(path.join(repoDir, "dist/cli/main.js"))) {
    throw new SlugforgeError("CONFIG_INVALID", `${repoDir}/dist is not built; run \`npm run build\` first (npm run image does)`);
  }
  const tags = options.tags ?? [`${SERVER_REPOSITORY}:${pkg.version}`, `${SERVER_REPOSITORY}:latest`];
  const { base, why } = await chooseBase(options);
  say(`base image: ${base} (${why})`);
  const started = Date.now();
  const context = buildContext(repoDir);
  const image = await runtime
    .buildImage(context.stream, {
      tag: tags[0]!,
      buildArgs: { BASE_IMAGE: base, SLUGFORGE_VERSION: pkg.version },
      labels: { [SERVER_LABELS.role]: "server", [SERVER_LABELS.version]: pkg.version },
      onLine: options.onBuildLine ?? ((line) => say(`  ${line}`)),
    })
    .catch((err: unknown) => {
      context.cancel();
      throw err;
    });
  const tarCode = await context.exited;
  if (tarCode !== 0) throw new SlugforgeError("INTERNAL", `making the build context failed (tar exited with ${tarCode}): ${context.stderr()}`);
  for (const tag of tags.slice(1)) await runtime.tagImage(tags[0]!, tag);
  // The build stage is left as an untagged image; it is ours, labelled, and of no further use.
  await runtime.pruneDangling(`${SERVER_LABELS.stage}=build`).catch(() => 0);
  say(`${tags.join(", ")}: built in ${((Date.now() - started) / 1000).toFixed(0)} s (${shortId(image.id)}, ${(image.sizeBytes / 1e6).toFixed(0)} MB)`);
  return { tags, image, base, baseWhy: why };
}

/** The given base, else the official Node image (there or pulled), else the Debian-made one. */
async function chooseBase(options: ServerImageOptions): Promise<{ base: string; why: string }> {
  const { runtime } = options;
  const wanted = options.base ?? DEFAULT_BASE_IMAGE;
  if (await runtime.inspectImage(wanted)) return { base: wanted, why: options.base ? "as given" : "the official Node image, in the engine already" };
  const pulled = await runtime.pullImage(wanted).then(
    () => undefined,
    (err: unknown) => (err instanceof Error ? err.message : String(err)),
  );
  if (pulled === undefined) return { base: wanted, why: "pulled" };
  if (options.base) throw new SlugforgeError("CONFIG_INVALID", `the base image ${wanted} is not in the engine and cannot be pulled: ${pulled}`);
  options.say(`${wanted} is not in the engine and cannot be pulled (${pulled}); making the base from Debian packages instead`);
  const stackOptions: Omit<StackBuildOptions, "force"> = { runtime, workDir: options.workDir, say: options.say, mirror: options.mirror };
  const made = await ensureNodeBase(stackOptions);
  return { base: made.ref, why: `${wanted} cannot be pulled here; Debian 13's Node.js ${made.built ? "made now" : "made earlier"} from Debian packages` };
}

/**
 * The build context as a tar stream: what the image runs (package.json, bin/, dist/, hooks/,
 * buildpacks/, dashboard/, launcher/), the Dockerfile, and node_modules/ with only the packages the lock file does not
 * mark dev (node_modules may be a link to a folder elsewhere: tar reads through it).
 */
function buildContext(repoDir: string): TarOut {
  const lock = JSON.parse(readFileSync(path.join(repoDir, "package-lock.json"), "utf8")) as { packages: Record<string, { dev?: boolean }> };
  const modules = Object.entries(lock.packages)
    .filter(([name, entry]) => name.startsWith("node_modules/") && !name.slice("node_modules/".length).includes("/node_modules/") && !entry.dev)
    .map(([name]) => name)
    .filter((name) => existsSync(path.join(repoDir, name)))
    .sort();
  const entries = ["Dockerfile", "package.json", "package-lock.json", "bin", "buildpacks", "hooks", "dashboard", "launcher", "dist", ...modules];
  return tarOut(["-c", "-f", "-", "--exclude=dist/bench", "--exclude=dist/test", "--exclude=dist/.tsbuildinfo", "-C", repoDir, "--", ...entries]);
}
