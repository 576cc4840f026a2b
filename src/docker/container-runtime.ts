import type { Readable, Writable } from "node:stream";

/**
 * What slugforge needs from a container engine, in our own types. The dockerode implementation
 * lives alone in dockerode-runtime.ts; tests of the layers above may fake this interface.
 */
export interface ContainerRuntime {
  /** Resolves with the engine's version, or rejects with DOCKER_UNAVAILABLE. */
  ping(): Promise<{ version: string }>;
  inspectImage(ref: string): Promise<ImageInfo | undefined>;
  listImages(repository: string): Promise<ImageInfo[]>;
  /** Makes an image from a root filesystem tar stream (docker import). */
  importImage(rootfs: Readable, ref: string, labels: Record<string, string>): Promise<ImageInfo>;
  removeImage(ref: string): Promise<void>;
  /**
   * The image as `docker save` writes it (a tar: manifest.json, the config, one tar per layer),
   * as a stream read from the engine as it is consumed, never held whole.
   */
  saveImage(ref: string): Promise<Readable>;
  /**
   * Loads a tar in `docker save`'s format into the engine (its tags included); resolves once the
   * engine has the image, rejects with what the engine said when it refuses it. A layer the engine
   * already has (by its chain of diff ids) may be left out of the tar.
   */
  loadImage(tar: Readable): Promise<void>;
  /**
   * Whether created containers tell their upper layer (CreatedContainer.upperDir): the engine is
   * local, stores containers with overlay2 and maps no user namespace.
   */
  layerAccess(): Promise<boolean>;
  /** Creates a container without starting it. */
  create(spec: ContainerSpec): Promise<CreatedContainer>;
  /** Creates and starts a container that idles until exec'd into; remove() ends it. */
  start(spec: ContainerSpec): Promise<Container>;
  /** Runs one command in a fresh container and removes it; resolves with the exit code. */
  runOnce(spec: ContainerSpec & { cmd: string[] }, io: ExecIO): Promise<number>;
  /** Ids of containers carrying a label (for sweeping strays). */
  listContainers(label: string): Promise<string[]>;
  /**
   * Removes the containers any slugforge process made whose maker is provably gone (see owner.ts);
   * resolves with how many. Every process that starts work on an engine calls it first.
   */
  sweepOrphans(): Promise<number>;
  removeContainer(id: string): Promise<void>;
  /**
   * Follows the engine's image events (an image tagged, untagged, loaded, imported, pulled or
   * removed, by any process): resolves once the engine streams them, rejects when it cannot.
   * `onChange` is called for each change until the watch ends; `onEnd` once, when the stream ends
   * or breaks or close() is called (nothing is told after it). Optional: fakes may leave it out.
   */
  watchImages?(handlers: ImageWatchHandlers): Promise<{ close(): void }>;
}

export interface ImageWatchHandlers {
  onChange(): void;
  onEnd(): void;
}

/**
 * Making images from a Dockerfile (slugforge's own server image), on top of the runtime. Kept
 * apart so that fakes of ContainerRuntime need not have it.
 */
export interface ImageBuilder {
  /** Fetches an image from its registry; rejects when it cannot (no registry reachable). */
  pullImage(ref: string): Promise<ImageInfo>;
  /**
   * Builds the Dockerfile at the root of a build context (a tar stream) and tags the result `tag`;
   * each line the engine prints goes to `onLine`. Rejects with the engine's error.
   */
  buildImage(context: Readable, options: BuildImageOptions): Promise<ImageInfo>;
  /** Gives an image another name (repository:tag). */
  tagImage(ref: string, as: string): Promise<void>;
  /** Removes untagged images carrying a label (what a multi-stage build leaves); resolves with how many. */
  pruneDangling(label: string): Promise<number>;
}

export interface BuildImageOptions {
  readonly tag: string;
  readonly buildArgs?: Readonly<Record<string, string>>;
  readonly labels?: Readonly<Record<string, string>>;
  readonly onLine?: (line: string) => void;
}

export interface ImageInfo {
  readonly id: string;
  readonly tags: readonly string[];
  readonly sizeBytes: number;
  readonly createdAt: Date;
  readonly labels: Readonly<Record<string, string>>;
  /** sha256 digests of the image's layers, uncompressed, bottom first (its config's rootfs.diff_ids). */
  readonly diffIds: readonly string[];
  readonly os: string;
  readonly architecture: string;
  /** The image's own environment (`KEY=value`), as its config sets it. */
  readonly env: readonly string[];
}

export interface Mount {
  readonly host: string;
  readonly container: string;
  readonly readOnly: boolean;
  /** Refuse to start when `host` does not exist where the engine runs (instead of making an empty folder there). */
  readonly mustExist?: boolean;
}

export interface ContainerSpec {
  readonly image: string;
  /** Replaces the image's entrypoint; `[]` runs none (an image whose entrypoint is a launcher). */
  readonly entrypoint?: readonly string[];
  readonly name?: string;
  /** "uid:gid" or a user name known to the image. */
  readonly user?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly workdir?: string;
  readonly mounts?: readonly Mount[];
  /** Empty writable tmpfs mounts (path -> options such as "size=64m"). */
  readonly tmpfs?: Readonly<Record<string, string>>;
  readonly network?: "bridge" | "none" | "host";
  readonly memoryBytes?: number;
  readonly cpus?: number;
  readonly pidsLimit?: number;
  readonly labels?: Readonly<Record<string, string>>;
  /** Drop every capability and forbid privilege gain (build containers). */
  readonly hardened?: boolean;
  /**
   * An idle container the engine does not remove once it stops (it does by default): its layer
   * stays on the host after stop() until remove(). One whose maker died stays, stopped, until a
   * later start sweeps it (sweepOrphans).
   */
  readonly keepWhenStopped?: boolean;
  /** Ports published on the host (a local preview of an app): host address and port to a container port. */
  readonly ports?: readonly { readonly hostIp: string; readonly hostPort: number; readonly containerPort: number }[];
}

/** A container made but not started. */
export interface CreatedContainer {
  readonly id: string;
  /**
   * The host folder that is the top (writable) layer of its root filesystem, when the runtime has
   * layer access: files put there before start appear in the container as if it had written them.
   */
  readonly upperDir?: string;
  /**
   * With upperDir: the layer just beneath it (the engine's init layer, made for this container
   * alone and removed with it), when the kernel's overlayfs moves no folder by redirect. Files put
   * there before start are in the container's root but not in its upper layer, which then holds
   * only what the container changes: a changed file copied up whole, a removed one as a whiteout.
   */
  readonly initDir?: string;
  /** With initDir: where the started container's root is mounted (the host sees it while the container runs). */
  readonly mergedDir?: string;
  start(): Promise<Container>;
  remove(): Promise<void>;
}

export interface ExecIO {
  readonly stdout?: Writable;
  readonly stderr?: Writable;
  readonly stdin?: Readable;
  readonly signal?: AbortSignal;
}

export interface ExecOptions extends ExecIO {
  readonly env?: Readonly<Record<string, string>>;
  readonly user?: string;
  readonly workdir?: string;
  /** A terminal for the program (stdout and stderr are then one stream, written to `stdout`). */
  readonly tty?: boolean;
}

export interface Container {
  readonly id: string;
  /** Runs a command inside; resolves with its exit code. Aborting the signal kills the container. */
  exec(cmd: readonly string[], options?: ExecOptions): Promise<number>;
  /** Extracts a tar stream into a directory of the container. */
  putArchive(tar: Readable, dir: string): Promise<void>;
  /** A tar stream of a path inside the container (entries rooted at its base name). */
  getArchive(path: string): Promise<Readable>;
  /**
   * Paths changed in the container's own filesystem since it started from its image, as
   * `docker diff` lists them (mounts and tmpfs are not included).
   */
  changes(): Promise<FileChange[]>;
  /**
   * Stops the container (everything in it is killed) and waits until the engine has let go of its
   * filesystem, so that its upper layer (CreatedContainer.upperDir) can be read from the host.
   * Removing it is still remove()'s business; one made without `keepWhenStopped` is removed by
   * the engine as it stops.
   */
  stop(): Promise<void>;
  /**
   * Whether the container is still there, stopped, and not being removed: asked after taking
   * something out of its stopped layer, as a removal under way may have left that half deleted.
   */
  isStopped(): Promise<boolean>;
  /** Whether the container still runs (false when it is gone, or the engine does not answer): asked of one started ahead of time. */
  isRunning(): Promise<boolean>;
  /** Stops and removes the container; safe to call twice. */
  remove(): Promise<void>;
}

export interface FileChange {
  readonly path: string;
  readonly kind: "added" | "changed" | "deleted";
}
