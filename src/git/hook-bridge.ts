import { chmod, lstat, unlink } from "node:fs/promises";
import http from "node:http";
import type { Builder } from "../builds/types.js";
import type { Logger } from "../log.js";
import type { DiskGuard } from "../util/disk-space.js";
import { AppLocks } from "./app-lock.js";
import { KEEPALIVE_RECORD, PRE_RECEIVE_PATH, STATUS_OK, parseHookRequest, statusFail } from "./hook-protocol.js";
import { gatePush } from "./pre-receive-gate.js";
import { PushSessions, type PushSession } from "./push-sessions.js";

export interface HookBridgeOptions {
  /** A unix socket path in the data folder; made mode 0600. */
  readonly socketPath: string;
  readonly builder: Builder;
  readonly log: Logger;
  /** How often a waiting or silent build tells the hook it is still alive; the hook's idle timeout is 120 s. */
  readonly keepAliveMs?: number;
  readonly locks?: AppLocks;
  /** Refuses builds (STORAGE_FULL) while the data folder's disk is under its reserve. */
  readonly disk?: DiskGuard;
}

export interface HookBridge {
  readonly socketPath: string;
  readonly locks: AppLocks;
  listen(): Promise<void>;
  /** Cancels running builds (their pushes are rejected) and stops listening. */
  close(): Promise<void>;
  /** Called by the HTTP handler before it spawns receive-pack; close the session when git exits. */
  openPush(app: string, gitDir: string, actor: string): PushSession;
}

const MAX_HOOK_BODY = 1024 * 1024;

/**
 * The server side of the pre-receive hook: an HTTP server on a unix socket that only the server's
 * user can open, answering one route for holders of a live per-push token.
 */
export function createHookBridge(options: HookBridgeOptions): HookBridge {
  const log = options.log.child({ component: "hook-bridge" });
  const sessions = new PushSessions();
  const locks = options.locks ?? new AppLocks();
  const keepAliveMs = options.keepAliveMs ?? 15_000;

  const server = http.createServer({ requestTimeout: 0 }, (req, res) => {
    req.on("error", (err) => log.debug({ err }, "hook request error"));
    res.on("error", (err) => log.debug({ err }, "hook response error"));
    const reply = (status: number, text: string): void => {
      res.writeHead(status, { "Content-Type": "text/plain" });
      res.end(`${text}\n`);
    };
    if (req.method !== "POST" || req.url !== PRE_RECEIVE_PATH) return reply(404, "not found");
    const auth = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "");
    const session = auth ? sessions.find(auth[1]!) : undefined;
    if (!session) return reply(401, "slugforge: unknown or finished push; push again.");
    readBody(req, MAX_HOOK_BODY)
      .then(async (raw) => {
        const hook = raw === undefined ? undefined : parseHookRequest(raw);
        if (!hook) return reply(400, "slugforge: the hook sent a request the server does not understand.");
        res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-cache" });
        let done = false;
        res.on("close", () => {
          // The hook died: receive-pack was killed or the pusher went away. Stop the build.
          if (!done) session.abort("the pre-receive hook went away");
        });
        const write = (text: string): void => {
          if (!res.destroyed && text.length > 0) res.write(text);
        };
        const ticker = setInterval(() => write(KEEPALIVE_RECORD), keepAliveMs);
        try {
          const outcome = await gatePush({ builder: options.builder, locks, log, disk: options.disk }, session, hook, write);
          write(outcome.ok ? STATUS_OK : statusFail(outcome.code));
        } finally {
          done = true;
          clearInterval(ticker);
          res.end();
        }
      })
      .catch((err: unknown) => {
        log.error({ err }, "hook bridge failed");
        if (!res.headersSent) reply(500, "slugforge: internal error in the build server.");
        else res.end(statusFail("INTERNAL"));
      });
  });

  return {
    socketPath: options.socketPath,
    locks,
    async listen() {
      await removeStaleSocket(options.socketPath);
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(options.socketPath, () => {
          server.off("error", reject);
          resolve();
        });
      });
      // Anyone who can open the socket may try tokens; only the server's user may open it.
      await chmod(options.socketPath, 0o600);
      log.info({ socketPath: options.socketPath }, "hook bridge listening");
    },
    async close() {
      for (const s of sessions.all()) s.abort("the server is stopping");
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
    openPush(app, gitDir, actor) {
      return sessions.open(app, gitDir, actor);
    },
  };
}

/** The request body as text, or undefined when it is over `limit` bytes. */
async function readBody(req: http.IncomingMessage, limit: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** A socket left by a server that died would make listen fail with EADDRINUSE. */
async function removeStaleSocket(socketPath: string): Promise<void> {
  try {
    if ((await lstat(socketPath)).isSocket()) await unlink(socketPath);
  } catch {
    // absent: nothing to do
  }
}
