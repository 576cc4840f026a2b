import type { Readable, Writable } from "node:stream";
import type { NetworkMode } from "../config/parse-config.js";
import type { ContainerRuntime, Mount } from "../docker/container-runtime.js";
import { SlugforgeError } from "../errors.js";
import type { Logger } from "../log.js";
import { CONTAINER_PORT } from "../util/preview-port.js";

/** The user apps run as, in the stack's run image (as on a Heroku dyno: not root, owner of /app). */
const RUN_USER = "slug";
const CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** Labels a one-off container: what it runs for, so a listing shows it. */
export const RUN_LABEL = "org.slugforge.run";

export interface OneOffOptions {
  readonly runtime: ContainerRuntime;
  readonly stack: string;
  readonly app: string;
  /**
   * What /app holds: the release's slug (a gzip tar under ./app/), unpacked into a container of the
   * stack's run image; or the release's image in the engine, whose /app is the slug already.
   */
  readonly from: { readonly slug: Readable } | { readonly releaseImage: string };
  /** The release's process types: a first argument that names one runs its command. */
  readonly processTypes: Readonly<Record<string, string>>;
  /** A process type's name, or a command and its arguments. */
  readonly args: readonly string[];
  /** The release's config vars: the process's environment (with PORT, HOME, DYNO, PATH, STACK). */
  readonly env: Readonly<Record<string, string>>;
  readonly network: NetworkMode;
  readonly mounts?: readonly Mount[];
  /** Publish the process's $PORT on this host address and port (a local preview). */
  readonly publish?: { readonly hostIp: string; readonly hostPort: number };
  readonly stdin?: Readable;
  readonly stdout?: Writable;
  readonly stderr?: Writable;
  readonly tty?: boolean;
  /** Ends the process (its container is removed). */
  readonly signal: AbortSignal;
  readonly log: Logger;
  /** What the container is for (a run id, "release-phase"), in its label. */
  readonly purpose: string;
  readonly memoryBytes?: number;
  /** More labels (the server that made it, so its sweeps know it). */
  readonly labels?: Readonly<Record<string, string>>;
}

const PORT = CONTAINER_PORT;

/** What a one-off's /app comes from. */
export type OneOffSource = OneOffOptions["from"];

/**
 * A release's one-off starts from its image when this engine holds that image as it was made (a
 * loaded one: its id is the release's digest), /app already in place; else from its slug, copied
 * into a run image container (images off, not made yet, or a registry's image not pulled here).
 */
export async function releaseSource(
  runtime: ContainerRuntime,
  /** Opens a slug of the store by its id (undefined: not there). */
  openSlug: (id: string) => Promise<Readable | undefined>,
  release: { readonly app: string; readonly version: number; readonly slugId: string | null; readonly image: { readonly name: string; readonly digest: string } | null },
): Promise<OneOffSource> {
  const image = release.image;
  const inEngine = image ? await runtime.inspectImage(image.name).catch(() => undefined) : undefined;
  if (image && inEngine?.id === image.digest) return { releaseImage: image.name };
  const slug = release.slugId ? await openSlug(release.slugId) : undefined;
  if (!slug) throw new SlugforgeError("INTERNAL", `the slug ${release.slugId} of ${release.app} v${release.version} is missing from the store`);
  return { slug };
}

/**
 * A one-off process of a release, as a Heroku one-off dyno: a container of the stack's run image
 * (unprivileged, capabilities dropped, limited), the slug unpacked at /app (or of the release's
 * image, which is that already), `.profile.d/*.sh`
 * sourced, PORT, HOME=/app and the release's config vars set; then the process type named by the
 * first argument, or the arguments as a command. Resolves with its exit code as soon as the process
 * ends; the container goes whatever happens, its removal not waited for.
 */
export async function runOneOff(options: OneOffOptions): Promise<number> {
  const { runtime, signal } = options;
  signal.throwIfAborted();
  const from = options.from;
  const container = await runtime.start({
    // The release image's entrypoint is its launcher: here the process is started by exec below.
    ...("releaseImage" in from ? { image: from.releaseImage, entrypoint: [] } : { image: `slugforge/stack:${options.stack}-run` }),
    user: RUN_USER,
    workdir: "/",
    network: options.publish ? "bridge" : options.network,
    mounts: options.mounts,
    memoryBytes: options.memoryBytes ?? 1024 ** 3,
    pidsLimit: 512,
    hardened: true,
    labels: { ...options.labels, [RUN_LABEL]: options.purpose, "org.slugforge.app": options.app },
    ports: options.publish ? [{ ...options.publish, containerPort: PORT }] : undefined,
  });
  const onAbort = (): void => void container.remove().catch((err: unknown) => options.log.warn({ err }, "removing a one-off container failed"));
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    // The engine unpacks the gzip itself; a slug's entries are ./app/...
    if ("slug" in from) await container.putArchive(from.slug, "/");
    const [first, ...rest] = options.args;
    const command = first !== undefined ? options.processTypes[first] : undefined;
    // A process type's command line is shell (as in a Procfile), with any further arguments after
    // it; anything else runs as the arguments say, no shell in between.
    const argv = command !== undefined ? ["bash", "-c", `${command} "$@"`, first!, ...rest] : [...options.args];
    const env = { ...options.env, PORT: String(PORT), HOME: "/app", DYNO: `run.${process.pid}`, PATH: CLEAN_PATH, LANG: "C.UTF-8", STACK: options.stack };
    const pairs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    // .profile.d first, as a dyno's start does; then the process, replacing the shell.
    const launch = ["bash", "-c", 'cd /app; for f in /app/.profile.d/*.sh; do if [ -f "$f" ]; then . "$f"; fi; done; exec "$@"', "launch", ...argv];
    return await container.exec(["env", "-i", ...pairs, ...launch], {
      user: RUN_USER,
      workdir: "/app",
      stdin: options.stdin,
      stdout: options.stdout,
      stderr: options.stderr,
      tty: options.tty,
      signal,
    });
  } finally {
    signal.removeEventListener("abort", onAbort);
    // The exit code is not held back while the engine removes the container (a second or more
    // under load): the removal goes on, and a server that dies first leaves it to the engine (the
    // container ends with its lifeline and is removed automatically).
    void container.remove().catch((err: unknown) => options.log.warn({ err }, "removing a one-off container failed"));
  }
}
