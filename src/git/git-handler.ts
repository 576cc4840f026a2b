import { realpath } from "node:fs/promises";
import type http from "node:http";
import type { Logger } from "../log.js";
import { advertiseRefs } from "./advertise.js";
import { parseGitPath, parseService, validGitProtocol, type GitService } from "./app-path.js";
import { GIT_ACCESS, refusal } from "../auth/access.js";
import { actorOf, type Authenticator } from "../auth/principal.js";
import { SlugforgeError, isSlugforgeError, toSlugforgeError } from "../errors.js";
import { isValidAppName } from "../names.js";
import type { DiskGuard } from "../util/disk-space.js";
import { discardDir } from "../util/discard-dir.js";
import { GitChildren } from "./git-children.js";
import type { HookBridge } from "./hook-bridge.js";
import { replyError, replyFailure, replyUnauthorized } from "./http-replies.js";
import { RepoMaintenance, type RepoMaintenanceOptions } from "./repo-maintenance.js";
import { createRepo, repoExists, repoPath } from "./repos.js";
import { bodyDecoder, runRpc } from "./rpc.js";

export interface GitHandlerDeps {
  /** Where the bare repos live: <reposDir>/<app>.git. */
  readonly reposDir: string;
  /** The server-owned core.hooksPath, with the pre-receive shim in it (installHooks). */
  readonly hooksDir: string;
  /** Who a request is: the HTTP Basic password is the admin token or a scoped token. */
  readonly auth: Authenticator;
  readonly bridge: Pick<HookBridge, "openPush" | "socketPath" | "locks">;
  readonly log: Logger;
  /** receive.maxInputSize, and the byte count past which a push is answered PUSH_TOO_LARGE. */
  readonly maxPushBytes: number;
  /** Called after the admin's first push created the app's repo; `actor` is who pushed. */
  readonly onAppCreated?: (app: string, actor: string) => void | Promise<void>;
  /** Settings for the `git gc --auto` run after pushes. */
  readonly maintenance?: RepoMaintenanceOptions;
  /** Refuses pushes (STORAGE_FULL) while the data folder's disk is under its reserve. */
  readonly disk?: DiskGuard;
  /** A git request body that sends nothing for this long is dropped and its git stopped; default 60 s. */
  readonly bodyIdleMs?: number;
  /** How old a killed push's leftovers must be to be swept: 0 while this node is alone with the repos (the default). */
  readonly leftoverAgeMs?: () => number;
}

export interface GitHandler {
  /** For createApp's gitHandler: true when the request was ours (answered or being answered). */
  handle(req: http.IncomingMessage, res: http.ServerResponse): boolean;
  /** Pids (= process group ids) of the git processes running now. */
  activeProcesses(): number[];
  /**
   * Deletes the app's repo, at once for every later request (a next push starts a new one); false
   * when there was none. APP_BUSY while a push to the app is being received, waits or builds.
   */
  removeRepo(app: string): Promise<boolean>;
  /** Resolves when no repo maintenance (git gc --auto after pushes) is running or waiting. */
  maintenanceIdle(): Promise<void>;
  /** The server is stopping: from now on pushes are refused (SERVER_STOPPING); fetches are still served. */
  refusePushes(): void;
  /** How many pushes (receive-packs) are running now. */
  pushesRunning(): number;
  /** Kills running git processes (their pushes fail) and maintenance, and waits for them. */
  close(): Promise<void>;
}

/** The smart-HTTP receiver: `/<app>.git/info/refs`, `/<app>.git/git-receive-pack`, `/<app>.git/git-upload-pack`. */
export function createGitHandler(deps: GitHandlerDeps): GitHandler {
  const log = deps.log.child({ component: "git" });
  const children = new GitChildren((gitDir, swept) => log.info({ gitDir, swept }, "swept leftover quarantine"), deps.leftoverAgeMs);
  const maintenance = new RepoMaintenance(log, deps.maintenance);
  let refusing = false;
  const ctx = { hooksDir: deps.hooksDir, maxPushBytes: deps.maxPushBytes, bodyIdleMs: deps.bodyIdleMs ?? 60_000, children, bridge: deps.bridge, log, maintenance };

  async function dispatch(req: http.IncomingMessage, res: http.ServerResponse, app: string, route: string): Promise<void> {
    const principal = await deps.auth.resolve(req.headers.authorization, "basic");
    if (!principal) {
      req.resume();
      return replyUnauthorized(res);
    }
    // 404, as for any path that names no repository.
    if (!isValidAppName(app)) return replyError(res, "APP_NAME_INVALID", undefined, { status: 404 });
    const gitProtocol = validGitProtocol(req.headers["git-protocol"]);
    /** Answers 403 when the principal may not use `service` on this app. */
    const forbidden = (service: GitService): boolean => {
      const refused = refusal(principal, GIT_ACCESS[service], app);
      if (refused === undefined) return false;
      req.resume();
      replyError(res, "FORBIDDEN", `${refused}.`);
      return true;
    };
    /** Answers 503 to a push while the server is stopping. */
    const stopping = (service: GitService): boolean => {
      if (!refusing || service !== "git-receive-pack") return false;
      req.resume();
      replyError(res, "SERVER_STOPPING");
      return true;
    };
    if (route === "info/refs") {
      if (req.method !== "GET" && req.method !== "HEAD") return notAllowed(res, req.method, "GET");
      const service = parseService(req.url ?? "");
      if (!service) {
        return replyError(res, "BAD_REQUEST", "slugforge serves only smart HTTP: service=git-receive-pack or service=git-upload-pack.", { status: 403 });
      }
      if (forbidden(service) || stopping(service)) return;
      if (service === "git-receive-pack") {
        // Up front, before a repo or a pack is written: git shows this text as "remote: ...".
        const full = await deps.disk?.check(`This push to ${app}`).then(() => undefined, (err: unknown) => err);
        if (full !== undefined) {
          if (!isSlugforgeError(full)) throw full;
          log.warn({ app, data: full.data }, "push refused: the disk is full");
          return replyFailure(res, full);
        }
      }
      if (!(await repoExists(deps.reposDir, app))) {
        // Only the admin's push creates an app; a fetch of an unknown one creates nothing.
        if (service !== "git-receive-pack") return notFound(res, app);
        if (principal.kind !== "admin") return replyError(res, "APP_NOT_FOUND", `${app} has no repository; only the admin token's first push creates one.`);
        if (await createRepo(deps.reposDir, app)) {
          log.info({ app }, "app created by a first push");
          await deps.onAppCreated?.(app, actorOf(principal));
        }
      }
      return advertiseRefs(ctx, res, service, await realpath(repoPath(deps.reposDir, app)), gitProtocol);
    }
    const service = route as GitService;
    if (req.method !== "POST") return notAllowed(res, req.method, "POST");
    if (forbidden(service) || stopping(service)) return;
    if (req.headers["content-type"] !== `application/x-${service}-request`) {
      req.resume();
      return replyError(res, "BAD_REQUEST", `expected Content-Type application/x-${service}-request.`, { status: 415 });
    }
    const decoder = bodyDecoder(req.headers["content-encoding"]);
    if (decoder === "unsupported") {
      req.resume();
      return replyError(res, "BAD_REQUEST", "unsupported Content-Encoding (gzip, deflate or none).", { status: 415 });
    }
    if (!(await repoExists(deps.reposDir, app))) {
      req.resume();
      return notFound(res, app);
    }
    runRpc(ctx, req, res, { app, service, gitDir: await realpath(repoPath(deps.reposDir, app)), gitProtocol, decoder, actor: actorOf(principal) });
  }

  return {
    handle(req, res) {
      const parsed = parseGitPath(req.url ?? "");
      if (!parsed) return false;
      res.on("error", (err) => log.debug({ err }, "git response error"));
      req.on("error", (err) => log.debug({ err }, "git request error"));
      dispatch(req, res, parsed.app, parsed.route).catch((err: unknown) => {
        const known = toSlugforgeError(err);
        if (known.code === "STORAGE_FULL") {
          log.warn({ err, app: parsed.app }, "git request failed: the disk is full");
          return replyFailure(res, known);
        }
        log.error({ err, app: parsed.app }, "git request failed");
        replyError(res, "INTERNAL", "the git request failed; the operator log has details.");
      });
      return true;
    },
    activeProcesses: () => children.pids(),
    maintenanceIdle: () => maintenance.idle(),
    async removeRepo(app) {
      const dir = repoPath(deps.reposDir, app);
      const real = await realpath(dir).catch(() => undefined);
      if (real === undefined) return false;
      if (children.pushesIn(real) > 0 || deps.bridge.locks.depth(app) > 0) {
        throw new SlugforgeError("APP_BUSY", `a push to ${app} is being received or built; the app was not deleted`);
      }
      return discardDir(dir);
    },
    refusePushes() {
      refusing = true;
    },
    pushesRunning: () => children.pushes(),
    close: async () => {
      await Promise.all([children.killAll(), maintenance.close()]);
    },
  };
}

function notFound(res: http.ServerResponse, app: string): void {
  replyError(res, "APP_NOT_FOUND", `repository '${app}' not found. A first push creates it.`);
}

function notAllowed(res: http.ServerResponse, method: string | undefined, allow: string): void {
  replyError(res, "BAD_REQUEST", `${method ?? "this method"} is not allowed here; use ${allow}.`, { status: 405, headers: { Allow: allow } });
}
