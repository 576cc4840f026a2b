import type http from "node:http";
import { Writable } from "node:stream";
import zlib from "node:zlib";
import { spawnGit } from "../gitcli/git.js";
import type { Logger } from "../log.js";
import { failpoint } from "../util/failpoints.js";
import { killChildGroup } from "../util/process-group.js";
import type { GitService } from "./app-path.js";
import type { GitChildren } from "./git-children.js";
import type { HookBridge } from "./hook-bridge.js";
import { NO_CACHE_HEADERS, replyError } from "./http-replies.js";
import { PushCommandHead, pushTooLargeResult } from "./push-limit.js";
import type { RepoMaintenance } from "./repo-maintenance.js";
import { streamRequestBody } from "./request-body.js";
import { gitServerConfig } from "./server-config.js";

export interface RpcContext {
  readonly hooksDir: string;
  readonly maxPushBytes: number;
  /** A request body that sends nothing for this long is dropped (and its git stopped). */
  readonly bodyIdleMs: number;
  readonly children: GitChildren;
  readonly bridge: Pick<HookBridge, "openPush" | "socketPath">;
  readonly log: Logger;
  readonly maintenance: Pick<RepoMaintenance, "schedule">;
}

/** The decoder for a request's Content-Encoding, or "unsupported". */
export function bodyDecoder(encoding: string | undefined): zlib.Gunzip | zlib.Inflate | undefined | "unsupported" {
  const e = (encoding ?? "").trim().toLowerCase();
  if (e === "" || e === "identity") return undefined;
  if (e === "gzip" || e === "x-gzip") return zlib.createGunzip();
  if (e === "deflate") return zlib.createInflate();
  return "unsupported";
}

/**
 * POST git-receive-pack / git-upload-pack: the request body goes to `git <svc> --stateless-rpc`,
 * its output comes back as it is produced. The response head waits for git's first byte so a
 * push over the size limit can still get a proper report. If the client goes away before git is
 * done, git's whole process group (hook included) is killed and the push's build is cancelled.
 * Once git has exited, or the push is refused as too large (counted as the body inflates), the
 * body is neither decoded nor read further: a small gzip body can inflate to gigabytes.
 */
export function runRpc(
  ctx: RpcContext,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  spec: {
    app: string;
    service: GitService;
    gitDir: string;
    gitProtocol: string | undefined;
    decoder: zlib.Gunzip | zlib.Inflate | undefined;
    /** Who sent it (`admin` or a token id): a push's build and release record it. */
    actor: string;
  },
): void {
  const { app, service, gitDir } = spec;
  const isPush = service === "git-receive-pack";
  const log = ctx.log.child({ app, service });
  const session = isPush ? ctx.bridge.openPush(app, gitDir, spec.actor) : undefined;
  const child = spawnGit([service.slice(4), "--stateless-rpc", gitDir], {
    config: gitServerConfig(ctx.hooksDir, ctx.maxPushBytes),
    env: { ...session?.hookEnv(ctx.bridge.socketPath), GIT_PROTOCOL: isPush ? undefined : spec.gitProtocol },
  });
  ctx.children.add(child, gitDir, isPush);
  let exited = false;
  let replaced = false; // we answered ourselves (push too large); git's output is dropped
  let stderr = "";

  const head = (): void => {
    if (!res.headersSent) res.writeHead(200, { "Content-Type": `application/x-${service}-result`, ...NO_CACHE_HEADERS });
  };
  child.stdout.on("data", (chunk: Buffer) => {
    if (replaced || res.destroyed) return;
    head();
    if (!res.write(chunk)) {
      child.stdout.pause();
      res.once("drain", () => child.stdout.resume());
    }
  });
  child.stderr.on("data", (b: Buffer) => (stderr = (stderr + b.toString("utf8")).slice(-4000)));
  child.stdin.on("error", (err) => log.debug({ err }, "git stdin closed early"));
  child.on("error", (err) => {
    log.error({ err }, "cannot run git");
    replyError(res, "INTERNAL", "the server could not run git.");
  });
  child.on("close", (code, signal) => {
    exited = true;
    // git wants no more: the rest of the body, if any, is not read (the answer still goes out).
    body.stop();
    session?.close();
    if (code !== 0) log.info({ code, signal, stderr: stderr.trim() }, "git exited with an error");
    if (!replaced && !res.destroyed) {
      head();
      res.end();
    }
    // After the answer has gone: starting a process stops this one for a few milliseconds.
    if (code === 0 && isPush && !replaced) ctx.maintenance.schedule(gitDir);
    void ctx.children
      .exited(child, gitDir, isPush, code === 0)
      .then(undefined, (err: unknown) => log.warn({ err, gitDir }, "quarantine sweep failed"));
  });
  res.on("close", () => {
    if (exited) return;
    log.info({ push: session?.id }, "client went away before git finished; stopping it");
    session?.abort("the pusher went away");
    killChildGroup(child);
  });

  const commands = isPush ? new PushCommandHead() : undefined;
  let received = 0;
  // A Writable, not a pipe into stdin: git stopping (it exited, or we stopped it) must not tear
  // down the client's request, on which the answer goes out.
  // A test can hold a push here, its first bytes in hand, to inject a fault (util/failpoints.ts).
  let held = !isPush;
  const gone = new AbortController();
  res.on("close", () => gone.abort(new Error("the client went away")));
  const sink = new Writable({
    write(chunk: Buffer, enc, done) {
      if (!held) {
        held = true;
        failpoint("receive", app, gone.signal).then(
          () => this._write(chunk, enc, done),
          // The client went away while the push was held: it is being torn down already.
          () => done(),
        );
        return;
      }
      if (body.stopped) return done();
      received += chunk.length;
      commands?.push(chunk);
      if (isPush && received > ctx.maxPushBytes) {
        log.info({ received, limit: ctx.maxPushBytes }, "push too large; the rest of the body is not read");
        body.stop();
        if (!res.headersSent) {
          replaced = true;
          killChildGroup(child);
          res.writeHead(200, { "Content-Type": `application/x-${service}-result`, ...NO_CACHE_HEADERS });
          res.end(pushTooLargeResult(commands!, ctx.maxPushBytes));
        } else if (child.stdin.writable) {
          child.stdin.end(); // git is answering already: let it finish, with no more input
        }
        return done();
      }
      if (replaced || !child.stdin.writable) return done();
      if (child.stdin.write(chunk)) return done();
      const resume = (): void => {
        child.stdin.off("drain", resume);
        child.stdin.off("close", resume);
        done();
      };
      child.stdin.on("drain", resume);
      child.stdin.on("close", resume);
    },
    final(done) {
      if (child.stdin.writable) child.stdin.end();
      done();
    },
  });
  const body = streamRequestBody(req, res, {
    decoder: spec.decoder,
    sink,
    idleMs: ctx.bodyIdleMs,
    onIdle() {
      // A token holder could otherwise hold a receive-pack (and the app's push slot) open forever.
      log.info({ received, idleMs: ctx.bodyIdleMs }, "request body sent nothing for too long; dropped");
      session?.abort("the request body stalled");
      killChildGroup(child);
      if (!res.headersSent) replaced = true;
      const idle = ctx.bodyIdleMs >= 1000 ? `${Math.round(ctx.bodyIdleMs / 1000)} s` : `${ctx.bodyIdleMs} ms`;
      replyError(res, "BAD_REQUEST", `the request body sent nothing for ${idle}; the request was dropped.`, { status: 408 });
    },
    onError(err) {
      if (exited || res.destroyed) return;
      // A broken gzip body: stop git; answer if nothing was sent yet.
      log.info({ err }, "request body could not be decoded");
      killChildGroup(child);
      if (!res.headersSent) {
        replaced = true;
        replyError(res, "BAD_REQUEST", "the request body could not be read.");
      }
    },
  });
}
