import type { LaidSlug } from "../slug/laid-slug.js";
import type { BuildStatus, FinishedBuildStatus } from "../build-status.js";
import type { ErrorCode } from "../errors.js";

/** Where the pushed commit can be read while git holds it in quarantine (from the pre-receive hook's env). */
export interface SourceRef {
  /** The bare repository. */
  readonly gitDir: string;
  readonly objectDirectory?: string;
  readonly alternateObjectDirectories?: string;
  readonly quarantinePath?: string;
}

/**
 * A commit's source already unpacked in a build container's /app, as putSource would have left it
 * (a container made ahead of time gets the app's last built commit: laid-source.ts).
 */
export interface LaidSource {
  readonly commit: string;
  readonly tree: string;
  /** The `.slugignore` it was unpacked with (undefined: none). */
  readonly slugignore: string | undefined;
  /** Files that `.slugignore` kept out. */
  readonly ignored: number;
  /** Its tree holds a `.gitattributes` file (in any folder): worked out as it is laid, off the next push's path. */
  readonly attributes: boolean;
  /**
   * Set when it was laid beneath the container's upper layer (CreatedContainer.initDir), not in it:
   * the upper layer then holds only what the build changed, and /app whole is read at `merged` (the
   * container's mounted root), or through the engine when this host does not see that.
   */
  readonly below?: { readonly merged?: string };
  /** Its slug tar, read once the container was started (laid-source.ts recordLaidSlug); undefined when it could not be read. */
  readonly slug?: Promise<LaidSlug | undefined>;
}

/** What the host laid into a prepared container besides its source and caches, by key (laid-inputs.ts). */
export interface LaidInputs {
  readonly buildpacks?: string;
  readonly env?: string;
}

export interface BuildRequest {
  /** Chosen by the caller when it must know the id up front; a fresh UUID otherwise. */
  readonly buildId?: string;
  readonly app: string;
  /** The commit to build (the pushed new rev). */
  readonly commit: string;
  /** The ref being updated, e.g. refs/heads/main. */
  readonly ref: string;
  readonly source: SourceRef;
  /** `git push -o` values, as given. */
  readonly pushOptions: readonly string[];
  /** Who pushed: `admin` or a scoped token's id; the build record and the app's activity name it. */
  readonly actor?: string;
}

/** The build's output for people: the pusher's terminal (git sideband) and the stored build log. */
export interface BuildOutput {
  write(chunk: string | Buffer): void;
}

/** The statuses are a ground-floor rule (src/build-status.ts), shared with the store and the API. */
export type { BuildStatus };

export interface BuildResult {
  readonly buildId: string;
  readonly status: FinishedBuildStatus;
  readonly error?: { readonly code: ErrorCode; readonly message: string };
  /** The slug made by a succeeded build: its content hash, compressed size and slug store id. */
  readonly slug?: { readonly sha256: string; readonly sizeBytes: number; readonly id: string };
  readonly processTypes?: Readonly<Record<string, string>>;
  /** The buildpacks that ran, as named (with `@<commit>` for git buildpacks). */
  readonly buildpacks?: readonly string[];
  /** Wall time of each phase that ran, in order. */
  readonly phases?: readonly { readonly phase: string; readonly ms: number }[];
  /** The key of the build's inputs (build-inputs.ts): a later push with the same key reuses its slug. */
  readonly inputsKey?: string;
  /** The earlier build whose slug this one reused instead of building. */
  readonly reusedFrom?: string;
  /** Built for a dry run (`git push -o dry-run`): kept as a record, never released; the push is refused. */
  readonly dryRun?: boolean;
}

/**
 * Told about a build as it happens, so it can be kept (the build record, its output, its slug and
 * release). `finished` is waited for before build() resolves: when a push is accepted, its records
 * exist. A build's calls are kept in the order they were made, awaited or not (output is not).
 */
export interface BuildRecorder {
  queued(buildId: string, request: BuildRequest): Promise<void>;
  started(buildId: string): Promise<void>;
  output(buildId: string, chunk: Buffer): Promise<void>;
  /** Returns what was kept: lines for the pusher (e.g. `Released v3`, shown under "Launching...") and the release made. */
  finished(request: BuildRequest, result: BuildResult): Promise<Recorded | void>;
}

/** What a recorder kept of a finished build. */
export interface Recorded {
  readonly lines: readonly string[];
  /** The release the build made, when it made one. */
  readonly release?: { readonly app: string; readonly version: number };
}

/** Lines for the pusher, in Heroku's two kinds: `-----> step` and indented detail. */
export interface PushLines {
  step(text: string): void;
  detail(text: string): void;
}

/**
 * Work a new release gets before its push is answered (its image, src/images): it prints its own
 * lines and never fails the build, whose release is already kept. `signal` says the pusher left.
 */
export type AfterRelease = (release: { readonly app: string; readonly version: number }, out: PushLines, signal: AbortSignal) => Promise<void>;

/**
 * Runs builds for pushes. The git layer calls it from the pre-receive bridge; output is written
 * as it is produced; aborting the signal (the pusher went away) cancels the build.
 * It never throws for a failed build: failures come back as a result with an error code.
 */
export interface Builder {
  build(request: BuildRequest, output: BuildOutput, signal: AbortSignal): Promise<BuildResult>;
  /**
   * Told of a pushed commit as soon as the hook names it, before the push is checked and its app
   * locked: a builder may start reading it (it cannot change). Optional; nothing waits for it.
   */
  pushed?(commit: { readonly source: SourceRef; readonly commit: string }, signal: AbortSignal): void;
}
