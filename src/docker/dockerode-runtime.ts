import Docker from "dockerode";
import { accessSync, constants, readFileSync, statSync } from "node:fs";
import os from "node:os";
import type { Socket } from "node:net";
import path from "node:path";
import { PassThrough, type Duplex, type Readable, type Writable } from "node:stream";
import { SlugforgeError, isSlugforgeError } from "../errors.js";
import { ExecDemuxer } from "./demux.js";
import { OWNER_LABEL, ownerGone, processOwner } from "./owner.js";
import type { Container, ContainerRuntime, ContainerSpec, CreatedContainer, ExecIO, ExecOptions, FileChange, ImageBuilder, ImageInfo } from "./container-runtime.js";
import { markOpen } from "../util/open-handles.js";

/**
 * The one place dockerode is used. DOCKER_HOST-style URLs select a remote engine; a tcp:// one
 * speaks TLS as the docker client does when DOCKER_TLS_VERIFY is set (certificates from
 * DOCKER_CERT_PATH, default ~/.docker), read from `env` (default process.env).
 */
export function createDockerRuntime(options: { dockerHost?: string; env?: NodeJS.ProcessEnv } = {}): ContainerRuntime & ImageBuilder {
  const docker = new Docker(modemOptions(options.dockerHost, options.env ?? process.env));

  const toImageInfo = (raw: Docker.ImageInspectInfo): ImageInfo => ({
    id: raw.Id,
    tags: raw.RepoTags ?? [],
    sizeBytes: raw.Size,
    createdAt: new Date(raw.Created),
    labels: raw.Config?.Labels ?? {},
    diffIds: raw.RootFS?.Layers ?? [],
    os: raw.Os,
    architecture: raw.Architecture,
    env: raw.Config?.Env ?? [],
  });

  const inspectImage = async (ref: string): Promise<ImageInfo | undefined> => {
    try {
      return toImageInfo(await docker.getImage(ref).inspect());
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw unavailable(err);
    }
  };

  const create = async (spec: ContainerSpec & { cmd?: string[] }): Promise<CreatedContainer> => {
    let raw: Docker.Container;
    try {
      raw = await docker.createContainer(createOptions(spec));
    } catch (err) {
      if (statusOf(err) === 404) {
        throw new SlugforgeError("STACK_MISSING", `image ${spec.image} is missing; run \`slugforge stack build\``, { cause: err });
      }
      // The engine answered, and refused the container as asked for (a mount whose source it does not have).
      if (statusOf(err) === 400) throw new SlugforgeError("INTERNAL", `the engine refused the container: ${errorText(err)}`, { cause: err });
      throw unavailable(err);
    }
    let layers: Layers | undefined;
    let lifeline: Socket | undefined;
    try {
      [layers, lifeline] = await Promise.all([layersOf(docker, raw), spec.cmd ? undefined : attachLifeline(raw)]);
    } catch (err) {
      await removeQuietly(raw);
      throw unavailable(err);
    }
    const container = wrapContainer(docker, raw, lifeline);
    return {
      id: raw.id,
      ...layers,
      remove: container.remove,
      async start() {
        try {
          await raw.start();
        } catch (err) {
          await container.remove();
          throw unavailable(err);
        }
        return container;
      },
    };
  };
  const start = async (spec: ContainerSpec & { cmd?: string[] }): Promise<Container> => (await create(spec)).start();

  return {
    async ping() {
      try {
        const v = await docker.version();
        return { version: v.Version };
      } catch (err) {
        throw unavailable(err);
      }
    },
    inspectImage,
    layerAccess: () => localOverlayEngine(docker),
    create,
    async listImages(repository) {
      const list = await docker.listImages({ filters: JSON.stringify({ reference: [repository] }) });
      const infos: ImageInfo[] = [];
      for (const item of list) {
        const info = await inspectImage(item.Id);
        if (info) infos.push({ ...info, tags: item.RepoTags ?? info.tags });
      }
      return infos;
    },
    async importImage(rootfs, ref, labels) {
      const [repo, tag] = splitRef(ref);
      const changes = Object.entries(labels).map(([k, v]) => `LABEL ${k}=${JSON.stringify(v)}`);
      let stream: NodeJS.ReadableStream;
      try {
        stream = await docker.importImage(rootfs as unknown as string, { repo, tag, changes } as object);
      } catch (err) {
        throw unavailable(err);
      }
      await new Promise<void>((resolve, reject) => {
        docker.modem.followProgress(stream, (err: Error | null, output: Array<{ error?: string }>) => {
          const failed = err ?? output.find((o) => o.error)?.error;
          if (failed) reject(new SlugforgeError("INTERNAL", `docker import of ${ref} failed: ${errorText(failed)}`));
          else resolve();
        });
      });
      const info = await inspectImage(ref);
      if (!info) throw new SlugforgeError("INTERNAL", `docker import of ${ref} left no image`);
      return info;
    },
    async pullImage(ref) {
      const [repo, tag] = splitRef(ref);
      let stream: NodeJS.ReadableStream;
      try {
        stream = await docker.pull(`${repo}:${tag}`);
      } catch (err) {
        throw new SlugforgeError("DOCKER_UNAVAILABLE", `docker pull ${ref} failed: ${errorText(err)}`, { cause: err });
      }
      await followOutput(docker, stream, `docker pull ${ref}`);
      const info = await inspectImage(ref);
      if (!info) throw new SlugforgeError("INTERNAL", `docker pull ${ref} left no image`);
      return info;
    },
    async buildImage(context, build) {
      let stream: NodeJS.ReadableStream;
      try {
        stream = await docker.buildImage(context as unknown as NodeJS.ReadableStream, {
          t: build.tag,
          buildargs: build.buildArgs ? { ...build.buildArgs } : undefined,
          labels: build.labels ? { ...build.labels } : undefined,
          rm: true,
          forcerm: true,
        } as Docker.ImageBuildOptions);
      } catch (err) {
        throw unavailable(err);
      }
      await followOutput(docker, stream, `the build of ${build.tag}`, build.onLine);
      const info = await inspectImage(build.tag);
      if (!info) throw new SlugforgeError("INTERNAL", `the build of ${build.tag} left no image`);
      return info;
    },
    async tagImage(ref, as) {
      const [repo, tag] = splitRef(as);
      await docker.getImage(ref).tag({ repo, tag });
    },
    async pruneDangling(label) {
      const pruned = await docker.pruneImages({ filters: JSON.stringify({ dangling: ["true"], label: [label] }) });
      return (pruned.ImagesDeleted ?? []).filter((d) => d.Deleted).length;
    },
    async removeImage(ref) {
      try {
        await docker.getImage(ref).remove({ force: true });
      } catch (err) {
        if (statusOf(err) !== 404) throw unavailable(err);
      }
    },
    async saveImage(ref) {
      try {
        return (await docker.getImage(ref).get()) as unknown as Readable;
      } catch (err) {
        if (statusOf(err) === 404) throw new SlugforgeError("STACK_MISSING", `image ${ref} is missing; run \`slugforge stack build\``, { cause: err });
        throw unavailable(err);
      }
    },
    async loadImage(tar) {
      // A tar that fails part-way (a slug that does not verify) must end the upload, not leave
      // the engine waiting for the rest.
      const abort = new AbortController();
      let sourceError: Error | undefined;
      tar.once("error", (err) => {
        sourceError = err;
        abort.abort(err);
      });
      let stream: NodeJS.ReadableStream;
      try {
        stream = await docker.loadImage(tar, { quiet: true, abortSignal: abort.signal });
      } catch (err) {
        tar.destroy();
        if (sourceError) throw sourceError;
        throw unavailable(err);
      }
      // The engine answers with JSON lines; a refused image is an `error` line, not a status.
      await new Promise<void>((resolve, reject) => {
        docker.modem.followProgress(stream, (err: Error | null, output: Array<{ error?: string }>) => {
          const failed = sourceError ?? err ?? output.find((o) => o.error)?.error;
          if (failed) reject(sourceError ?? new SlugforgeError("INTERNAL", `the engine refused the image: ${errorText(failed)}`));
          else resolve();
        });
      });
    },
    start,
    async runOnce(spec, io) {
      const { cmd, ...idle } = spec;
      const container = await start(idle);
      try {
        return await container.exec(cmd, { ...io, user: spec.user, env: spec.env, workdir: spec.workdir });
      } finally {
        await container.remove();
      }
    },
    async sweepOrphans() {
      const list = await docker.listContainers({ all: true, filters: JSON.stringify({ label: [OWNER_LABEL] }) });
      const orphans = list.filter((c) => ownerGone(c.Labels?.[OWNER_LABEL] ?? ""));
      await Promise.all(orphans.map((c) => removeQuietly(docker.getContainer(c.Id))));
      return orphans.length;
    },
    async listContainers(label) {
      const list = await docker.listContainers({ all: true, filters: JSON.stringify({ label: [label] }) });
      return list.map((c) => c.Id);
    },
    async watchImages(handlers) {
      let stream: NodeJS.ReadableStream & { destroy?: () => void; socket?: { unref?: () => void } };
      try {
        // `since` a minute back: the engine answers before it subscribes us, and replays from its
        // log what changed in between (and some earlier changes: a watcher only drops what it knows).
        stream = await docker.getEvents({ since: Math.floor(Date.now() / 1000) - 60, filters: JSON.stringify({ type: ["image"] }) });
      } catch (err) {
        throw unavailable(err);
      }
      // Following events must not keep a process alive that has nothing else to do.
      stream.socket?.unref?.();
      let ended = false;
      const end = (): void => {
        if (ended) return;
        ended = true;
        handlers.onEnd();
      };
      // Each chunk holds one event or more; which image changed does not matter to the watchers.
      stream.on("data", () => {
        if (!ended) handlers.onChange();
      });
      stream.on("end", end);
      stream.on("close", end);
      stream.on("error", end);
      return {
        close() {
          end();
          stream.destroy?.();
        },
      };
    },
    async removeContainer(id) {
      await removeQuietly(docker.getContainer(id));
    },
  };
}

/** Waits for an engine progress stream (pull, build) to end; lines of `stream` output go to onLine. */
function followOutput(docker: Docker, stream: NodeJS.ReadableStream, what: string, onLine?: (line: string) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onProgress = (event: { stream?: string; status?: string; error?: string }): void => {
      const text = event.stream ?? (event.status && !event.status.startsWith("Downloading") && !event.status.startsWith("Extracting") ? `${event.status}\n` : "");
      for (const line of text.split("\n")) if (line.trim()) onLine?.(line.replace(/\s+$/, ""));
    };
    docker.modem.followProgress(
      stream,
      (err: Error | null, output: Array<{ error?: string }>) => {
        const failed = err ?? output.find((o) => o.error)?.error;
        if (failed) reject(new SlugforgeError("INTERNAL", `${what} failed: ${errorText(failed)}`));
        else resolve();
      },
      onProgress,
    );
  });
}

function wrapContainer(docker: Docker, raw: Docker.Container, lifeline: Socket | undefined): Container {
  let removed: Promise<void> | undefined;
  const remove = (): Promise<void> =>
    (removed ??= removeQuietly(raw).finally(() => {
      lifeline?.destroy();
    }));
  const execIn = async (cmd: readonly string[], options: ExecOptions): Promise<number> => {
    if (options.signal?.aborted) throw abortError(options.signal);
    const exec = await raw.exec({
      Cmd: [...cmd],
      Env: options.env ? Object.entries(options.env).map(([k, v]) => `${k}=${v}`) : undefined,
      User: options.user,
      WorkingDir: options.workdir,
      AttachStdout: true,
      AttachStderr: true,
      AttachStdin: options.stdin !== undefined,
      Tty: options.tty === true,
    });
    // The engine refuses the start when the container stopped or went since the exec was made.
    const stream = await hijacked((abortSignal) => exec.start({ hijack: true, stdin: options.stdin !== undefined, Tty: options.tty === true, abortSignal }));
    const closed = markOpen(`exec ${exec.id.slice(0, 12)} in container ${raw.id.slice(0, 12)}: ${cmd.join(" ").slice(0, 200)}`);
    const onAbort = (): void => {
      // The exec has no kill of its own: ending the container ends it.
      void remove();
      stream.destroy();
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      await (options.tty ? pumpRaw(stream, options) : pumpExec(stream, options));
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
      // The exec is over, or given up on: its connection goes too. Left to itself it stays open
      // (and keeps this process alive) while an input that never ends is still piped into it, or
      // after a failed output, with the program still running.
      (stream as unknown as Duplex).destroy();
      closed();
    }
    if (options.signal?.aborted) throw abortError(options.signal);
    const info = await exec.inspect().catch((err: unknown) => {
      throw statusOf(err) === 404 ? containerLost(raw.id, err) : err;
    });
    const code = info.ExitCode ?? -1;
    // A program killed by a signal, one that could not be started (126: also what an exec into a
    // container that is stopping gives), or no exit code at all: was it the container that went?
    // (The engine may still call it running for a moment after `docker rm -f` killed what ran in it.)
    // An engine that no longer answers is going (one stopping kills its containers first, then
    // closes its API, or the other way round): the code is its doing, not the program's.
    if ((code < 0 || code === 126 || code >= 128) && removed === undefined) {
      for (let attempt = 0; attempt < 4; attempt++) {
        if (!(await stillRuns(raw))) throw containerLost(raw.id);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    return code;
  };

  return {
    id: raw.id,
    async exec(cmd, options: ExecOptions = {}) {
      try {
        return await execIn(cmd, options);
      } catch (err) {
        if (options.signal?.aborted || isSlugforgeError(err)) throw err;
        // The engine refused or cut the exec: because the container went, because the engine is
        // going (it does not answer), or for a reason of its own.
        if (removed !== undefined) throw err;
        throw (await stillRuns(raw)) ? err : containerLost(raw.id, err);
      }
    },
    async putArchive(tar, dir) {
      await raw.putArchive(tar as unknown as string, { path: dir });
    },
    async getArchive(path) {
      return (await raw.getArchive({ path })) as unknown as Readable;
    },
    async stop() {
      try {
        await raw.kill();
      } catch (err) {
        const status = statusOf(err);
        // 409: not running; 404: gone already.
        if (status !== 409 && status !== 404) throw err;
      }
      await raw.wait({ condition: "not-running" }).catch(() => undefined);
      // The engine answers the wait as it marks the container stopped, and unmounts its
      // filesystem after that under the container's lock, which inspect waits for.
      await raw.inspect().catch((err: unknown) => {
        if (statusOf(err) !== 404) throw err;
      });
    },
    async isStopped() {
      try {
        const state = (await raw.inspect()).State;
        return !state.Running && !state.Restarting && (state.Status === "exited" || state.Status === "created");
      } catch (err) {
        if (statusOf(err) === 404) return false;
        throw err;
      }
    },
    async isRunning() {
      if (removed) return false;
      return raw.inspect().then(runsIn, () => false);
    },
    async changes() {
      const list = ((await raw.changes()) ?? []) as Array<{ Path: string; Kind: number }>;
      return list.map((c): FileChange => ({ path: c.Path, kind: CHANGE_KINDS[c.Kind] ?? "changed" }));
    },
    remove,
  };
}

const localOverlay = new WeakMap<Docker, Promise<boolean>>();

/**
 * Whether containers' writable layers are folders slugforge can use on this host: the engine runs
 * here (a unix socket, and its overlay2 folder is writable from this process), stores containers
 * with overlay2, and maps no user namespace (so uid 1000 on the host is uid 1000 inside).
 */
function localOverlayEngine(docker: Docker): Promise<boolean> {
  let known = localOverlay.get(docker);
  if (!known) {
    known = docker.info().then(
      (info: { Driver?: string; SecurityOptions?: string[]; DockerRootDir?: string }) =>
        info.Driver === "overlay2" &&
        (docker.modem as { socketPath?: unknown }).socketPath !== undefined &&
        !(info.SecurityOptions ?? []).some((o) => /userns|rootless/.test(o)) &&
        // A unix socket is not proof the engine runs here: slugforge in a container with the host's
        // socket mounted sees none of the engine's folders (and a user other than root may not write them).
        writableHere(path.join(info.DockerRootDir ?? "/var/lib/docker", "overlay2")),
      () => false,
    );
    localOverlay.set(docker, known);
  }
  return known;
}

interface Layers {
  readonly upperDir: string;
  readonly initDir?: string;
  readonly mergedDir?: string;
}

/** The container's writable layer on this host, and the init layer beneath it, when slugforge can use them (localOverlayEngine). */
async function layersOf(docker: Docker, raw: Docker.Container): Promise<Layers | undefined> {
  if (!(await localOverlayEngine(docker))) return undefined;
  const inspected = await raw.inspect();
  const data = inspected.GraphDriver?.Data as { UpperDir?: string; LowerDir?: string; MergedDir?: string } | undefined;
  if (inspected.GraphDriver?.Name !== "overlay2" || !data?.UpperDir || !isDirectory(data.UpperDir)) return undefined;
  // The engine's init layer is the first lower one, and the container's own: `<layer>-init/diff` beside `<layer>/diff`.
  const initDir = data.LowerDir?.split(":")[0];
  const own = initDir === `${path.dirname(data.UpperDir)}-init/diff` && isDirectory(initDir) && data.MergedDir && !overlayRedirects();
  return own ? { upperDir: data.UpperDir, initDir, mergedDir: data.MergedDir } : { upperDir: data.UpperDir };
}

/**
 * Whether this kernel's overlayfs renames a folder of a lower layer by redirect (a folder in the
 * upper layer that points at the lower one, its files left there under the old name) rather than
 * refusing it (EXDEV: a program then copies the folder and removes the old one). The engine mounts
 * with the kernel's default, which this says; unknown is taken for yes.
 */
function overlayRedirects(): boolean {
  try {
    return readFileSync("/sys/module/overlay/parameters/redirect_dir", "utf8").trim() !== "N";
  } catch {
    return true;
  }
}

function writableHere(dir: string): boolean {
  try {
    accessSync(dir, constants.R_OK | constants.W_OK | constants.X_OK);
    return isDirectory(dir);
  } catch {
    return false;
  }
}

function isDirectory(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

/** The Engine API's numbering of `docker diff` kinds. */
const CHANGE_KINDS: Record<number, FileChange["kind"]> = { 0: "changed", 1: "added", 2: "deleted" };

/** Copies an exec's multiplexed stream to stdout/stderr with backpressure; feeds stdin when given. */
function pumpExec(stream: NodeJS.ReadWriteStream, io: ExecIO): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const out = io.stdout ?? new PassThrough().resume();
    const err = io.stderr ?? new PassThrough().resume();
    const demux = new ExecDemuxer(out as Writable, err as Writable);
    demux.on("finish", () => resolve());
    demux.on("error", reject);
    stream.pipe(demux);
    if (io.stdin) {
      io.stdin.on("error", reject);
      io.stdin.pipe(stream);
    }
    stream.on("close", () => {
      // Closed without an end (the container went away): whatever arrived has been delivered.
      if (!demux.writableFinished) demux.end();
    });
    stream.on("error", (e) => (io.signal?.aborted ? resolve() : reject(e)));
  });
}

/** What an idle container runs until it is exec'd into: it ends when its stdin does. */
const IDLE_CMD = ["sh", "-c", "exec cat > /dev/null"];

/**
 * Holds an idle container's stdin open from this process. Nothing is ever written: the connection
 * is there to close when this process goes (a kill -9 included), which ends the container.
 */
async function attachLifeline(raw: Docker.Container): Promise<Socket> {
  const socket = (await hijacked((abortSignal) => raw.attach({ stream: true, stdin: true, hijack: true, abortSignal }))) as unknown as Socket;
  socket.on("error", () => undefined);
  // It must not keep this process alive on its own.
  socket.unref();
  return socket;
}

/**
 * Opens a hijacked connection whose request carries stdin (an exec's start, an attach). Such a
 * request is never ended by the client library, so when the engine answers with an error instead
 * of taking the connection over, the connection would stay open (and keep this process alive): it
 * is cut then.
 */
async function hijacked<T>(open: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
  const cut = new AbortController();
  try {
    return await open(cut.signal);
  } catch (err) {
    cut.abort();
    throw err;
  }
}

/** A terminal exec's stream is not multiplexed: it all goes to stdout; stdin is fed when given. */
function pumpRaw(stream: NodeJS.ReadWriteStream, io: ExecIO): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const out = io.stdout ?? new PassThrough().resume();
    stream.pipe(out as Writable, { end: false });
    if (io.stdin) {
      io.stdin.on("error", reject);
      io.stdin.pipe(stream);
    }
    stream.on("end", () => resolve());
    stream.on("close", () => resolve());
    stream.on("error", (e) => (io.signal?.aborted ? resolve() : reject(e)));
  });
}

function createOptions(spec: ContainerSpec & { cmd?: string[] }): Docker.ContainerCreateOptions {
  return {
    Image: spec.image,
    name: spec.name,
    Entrypoint: spec.entrypoint ? [...spec.entrypoint] : undefined,
    Cmd: spec.cmd ?? IDLE_CMD,
    User: spec.user,
    WorkingDir: spec.workdir,
    Env: spec.env ? Object.entries(spec.env).map(([k, v]) => `${k}=${v}`) : undefined,
    Labels: { ...spec.labels, [OWNER_LABEL]: processOwner() },
    ExposedPorts: spec.ports?.length ? Object.fromEntries(spec.ports.map((p) => [`${p.containerPort}/tcp`, {}])) : undefined,
    AttachStdout: false,
    AttachStderr: false,
    // An idle container's only process reads the stdin this process holds open (attachLifeline):
    // when this process dies, however it dies, the container ends and the engine removes it (one
    // kept when stopped, whose layer is read after stop(), goes at the next start's sweep instead).
    OpenStdin: spec.cmd === undefined,
    StdinOnce: spec.cmd === undefined,
    Tty: false,
    HostConfig: {
      AutoRemove: spec.cmd === undefined && spec.keepWhenStopped !== true,
      Init: true,
      NetworkMode: spec.network ?? "bridge",
      PortBindings: spec.ports?.length
        ? Object.fromEntries(spec.ports.map((p) => [`${p.containerPort}/tcp`, [{ HostIp: p.hostIp, HostPort: String(p.hostPort) }]]))
        : undefined,
      Binds: spec.mounts?.filter((m) => !m.mustExist).map((m) => `${m.host}:${m.container}:${m.readOnly ? "ro" : "rw"}`),
      // The Mounts form fails on a missing source where Binds would make an empty folder on the engine's host.
      Mounts: spec.mounts?.filter((m) => m.mustExist).map((m) => ({ Type: "bind" as const, Source: m.host, Target: m.container, ReadOnly: m.readOnly })),
      Tmpfs: spec.tmpfs ? { ...spec.tmpfs } : undefined,
      Memory: spec.memoryBytes,
      MemorySwap: spec.memoryBytes,
      NanoCpus: spec.cpus ? Math.round(spec.cpus * 1e9) : undefined,
      PidsLimit: spec.pidsLimit,
      CapDrop: spec.hardened ? ["ALL"] : undefined,
      SecurityOpt: spec.hardened ? ["no-new-privileges"] : undefined,
    },
  };
}

async function removeQuietly(raw: Docker.Container): Promise<void> {
  try {
    await raw.remove({ force: true, v: true });
  } catch (err) {
    const status = statusOf(err);
    if (status !== 404 && status !== 409) throw err;
  }
}

function modemOptions(dockerHost: string | undefined, env: NodeJS.ProcessEnv): Docker.DockerOptions {
  if (!dockerHost) return { socketPath: "/var/run/docker.sock" };
  const url = new URL(dockerHost);
  if (url.protocol === "unix:") return { socketPath: url.pathname };
  const tls = url.protocol === "https:" || (env.DOCKER_TLS_VERIFY !== undefined && env.DOCKER_TLS_VERIFY !== "" && env.DOCKER_TLS_VERIFY !== "0");
  const port = Number(url.port || (tls ? 2376 : 2375));
  if (!tls) return { host: url.hostname, port, protocol: "http" };
  const certs = env.DOCKER_CERT_PATH || path.join(os.homedir(), ".docker");
  const read = (name: string): Buffer => {
    try {
      return readFileSync(path.join(certs, name));
    } catch (err) {
      throw new SlugforgeError("CONFIG_INVALID", `${dockerHost} speaks TLS, but ${path.join(certs, name)} cannot be read (${errorText(err)}); set DOCKER_CERT_PATH to the folder with ca.pem, cert.pem and key.pem`, { cause: err });
    }
  };
  return { host: url.hostname, port, protocol: "https", ca: read("ca.pem"), cert: read("cert.pem"), key: read("key.pem") };
}

function splitRef(ref: string): [string, string] {
  const i = ref.lastIndexOf(":");
  return i > ref.lastIndexOf("/") ? [ref.slice(0, i), ref.slice(i + 1)] : [ref, "latest"];
}

function statusOf(err: unknown): number | undefined {
  return typeof err === "object" && err !== null && "statusCode" in err ? Number((err as { statusCode: unknown }).statusCode) : undefined;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Whether the engine calls the container running and not on its way out; an engine that does not answer: DOCKER_UNAVAILABLE. */
async function stillRuns(raw: Docker.Container): Promise<boolean> {
  return raw.inspect().then(runsIn, (err: unknown) => {
    if (statusOf(err) === 404) return false;
    throw unavailable(err);
  });
}

function unavailable(err: unknown): SlugforgeError {
  return new SlugforgeError("DOCKER_UNAVAILABLE", `the Docker engine does not answer (${errorText(err)})`, { cause: err });
}

/** Whether an inspected container runs (and is not being removed). */
function runsIn(c: Docker.ContainerInspectInfo): boolean {
  return c.State?.Running === true && c.State?.Status !== "removing" && c.State?.Dead !== true;
}

/** The build's container stopped or vanished under it, not by our hand (docker rm -f, an engine restart). */
function containerLost(id: string, cause?: unknown): SlugforgeError {
  return new SlugforgeError("BUILD_CONTAINER_LOST", `the build container ${id.slice(0, 12)} was stopped or removed while the build ran`, { cause });
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error("aborted");
}
