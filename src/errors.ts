import { APP_NAME_RULE } from "./names.js";

/**
 * Every error a user or operator can meet, in one place. docs/errors.md documents the same
 * list; test/unit/errors.test.ts fails when the two disagree.
 */
export const ERROR_CODES = {
  NO_BUILDPACK_DETECTED: { status: 422, user: true, hint: "Add the files a buildpack looks for, or name a buildpack with BUILDPACK_URL or a .buildpacks file." },
  BUILDPACK_NOT_FOUND: { status: 422, user: true, hint: "Check the buildpack name or URL (and its #ref) in BUILDPACK_URL or .buildpacks." },
  COMPILE_FAILED: { status: 422, user: true, hint: "Read the build output above, fix the app and push again." },
  RELEASE_INVALID: { status: 422, user: true, hint: "The buildpack's bin/release must print a YAML mapping; fix the buildpack." },
  RELEASE_PHASE_FAILED: { status: 422, user: true, hint: "The Procfile's release command failed or ran too long; read its output above, fix it and push again (the slug is kept with the build)." },
  APP_JSON_INVALID: { status: 422, user: true, hint: "Fix the app.json fields named above (docs/app-json.md says what each one takes) and push again." },
  CONFIG_REQUIRED: { status: 422, user: true, hint: "Set the config vars app.json requires (`slugforge config:set APP NAME=VALUE`) and push again; nothing was built." },
  SLUG_TOO_LARGE: { status: 413, user: true, hint: "Add a .slugignore for files the app does not need at run time, or raise SLUGFORGE_MAX_SLUG_BYTES." },
  BUILD_TIMEOUT: { status: 504, user: true, hint: "Make the build faster, or raise SLUGFORGE_BUILD_TIMEOUT." },
  BUILD_CANCELLED: { status: 409, user: true, hint: "The push was interrupted before the build finished; push again." },
  PUSH_TOO_LARGE: { status: 413, user: true, hint: "Push less (keep build artefacts out of git), or raise SLUGFORGE_MAX_PUSH_BYTES." },
  REF_MOVED: { status: 409, user: true, hint: "Someone deployed while this push waited: fetch, rebase and push again." },
  BRANCH_NOT_DEPLOYABLE: { status: 403, user: true, hint: "Push to main (or master): git push paas HEAD:main." },
  PUSH_OPTION_INVALID: { status: 400, user: true, hint: "Use only the push options slugforge knows: git push -o rebuild, -o clear-cache or -o dry-run." },
  DRY_RUN: { status: 409, user: true, hint: "That was a dry run (git push -o dry-run): nothing was released and the branch did not move. Push without it to deploy." },
  APP_NAME_INVALID: { status: 400, user: true, hint: `App names are ${APP_NAME_RULE}.` },
  APP_BUSY: { status: 409, user: true, hint: "A push to this app is being received or built; wait until it has finished and try again." },
  APP_NOT_FOUND: { status: 404, user: true, hint: "Create the app with a first push or `slugforge apps:create NAME`." },
  NOT_FOUND: { status: 404, user: true, hint: "Check the id; the listings (`slugforge builds APP`, `slugforge slugs APP`) show the ones that exist." },
  UNAUTHORIZED: { status: 401, user: true, hint: "Use the API token as the password: http://user:TOKEN@host:port/APP.git, or set SLUGFORGE_TOKEN." },
  FORBIDDEN: { status: 403, user: true, hint: "This token's scope or app does not allow it; ask the operator for a token that does (`slugforge tokens:create`)." },
  CROSS_SITE_REQUEST: { status: 403, user: true, hint: "Changes made with the dashboard's sign-in must come from the dashboard's own pages; scripts use a token in the Authorization header." },
  BAD_REQUEST: { status: 400, user: true, hint: "Check the request against the API reference in docs/api.md." },
  CONFIG_INVALID: { status: 400, user: true, hint: "Fix the settings named above; each line says what is expected." },
  WEBHOOK_URL_INVALID: { status: 400, user: true, hint: "Give an http:// or https:// URL with a host and no user or password in it, e.g. https://deploy.example.com/hooks/slugforge." },
  DOCKER_UNAVAILABLE: { status: 503, user: false, hint: "Start the Docker engine (`slugforge setup` does it on Debian as root) and check DOCKER_HOST." },
  ENGINE_DOWN: { status: 503, user: false, hint: "A build engine stopped answering while the build ran; push again (new builds go to the engines that answer), and see `slugforge engines`." },
  DATABASE_UNAVAILABLE: { status: 503, user: false, hint: "Check SLUGFORGE_DATABASE_URL (host, port, user, password, database) and that the PostgreSQL server answers; unset it to keep metadata in SQLite in the data folder." },
  STACK_MISSING: { status: 503, user: false, hint: "Build the stack images with `slugforge stack build`." },
  HOST_SETUP_FAILED: { status: 500, user: false, hint: "Install what is named above by hand, or set SLUGFORGE_SKIP_HOST_SETUP=1 if you manage Docker yourself." },
  STORAGE_FULL: { status: 507, user: false, hint: "Free space where the server keeps its data (old build caches under <data>/cache, unused Docker images), or lower SLUGFORGE_MIN_FREE_BYTES." },
  BUILD_CONTAINER_LOST: { status: 503, user: false, hint: "Something outside the build stopped or removed its container (docker rm, an engine restart); push again, and check what touches the engine." },
  REGISTRY_UNAVAILABLE: { status: 502, user: false, hint: "The release exists and its image is retried in the background; check SLUGFORGE_REGISTRY and that the registry answers, or try now with `slugforge releases:image APP vN`." },
  STORAGE_UNAVAILABLE: { status: 503, user: false, hint: "The object store named by SLUGFORGE_STORAGE_URL refused or did not answer; check that it runs at the URL's endpoint, that the bucket exists, and AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; then push again." },
  SERVER_STOPPING: { status: 503, user: false, hint: "The server is stopping (a restart or an upgrade) and takes no new pushes; push again once it is back." },
  INTERRUPTED: { status: 500, user: false, hint: "The server stopped while this build ran; push again." },
  INTERNAL: { status: 500, user: false, hint: "This is a bug in slugforge; the operator log has the details under the build id." },
} as const satisfies Record<string, { status: number; user: boolean; hint: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface SlugforgeErrorOptions {
  cause?: unknown;
  data?: Record<string, unknown>;
}

/** One error type for the whole server: a stable code, what to do about it, and structured data. */
export class SlugforgeError extends Error {
  readonly code: ErrorCode;
  readonly data: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: SlugforgeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SlugforgeError";
    this.code = code;
    this.data = options.data ?? {};
  }

  /** True when the pusher caused it (bad input); false when it is ours or the host's. */
  get userCaused(): boolean {
    return ERROR_CODES[this.code].user;
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }

  get hint(): string {
    return ERROR_CODES[this.code].hint;
  }
}

/**
 * An error as one line of text, for git clients (`remote: ...`) and the pusher's terminal:
 * `CODE: message`, or `CODE: hint` when there is no message.
 */
export function errorLine(code: ErrorCode, message?: string): string {
  return `${code}: ${message ?? ERROR_CODES[code].hint}`;
}

export function isSlugforgeError(err: unknown): err is SlugforgeError {
  return err instanceof SlugforgeError;
}

/** Wraps anything thrown into a SlugforgeError, keeping the original as the cause. A full disk is STORAGE_FULL. */
export function toSlugforgeError(err: unknown, fallback: ErrorCode = "INTERNAL"): SlugforgeError {
  if (err instanceof SlugforgeError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (isDiskFull(err)) {
    return new SlugforgeError("STORAGE_FULL", `the server's disk is full (${message}); nothing was kept.`, { cause: err });
  }
  return new SlugforgeError(fallback, message, { cause: err });
}

/**
 * Whether an error is a full disk, as the file system (ENOSPC, EDQUOT) or SQLite (SQLITE_FULL)
 * reports it, also when it was wrapped as the cause of another error.
 */
export function isDiskFull(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === "ENOSPC" || code === "EDQUOT" || code === "SQLITE_FULL" || code === "STORAGE_FULL") return true;
    if (e instanceof Error && /no space left on device|database or disk is full|disk quota exceeded/i.test(e.message)) return true;
  }
  return false;
}
