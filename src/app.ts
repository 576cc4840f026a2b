import http from "node:http";
import type { Logger } from "./log.js";

export interface AppDeps {
  readonly log: Logger;
  /** Git smart-HTTP routes; answers false when the request is not one of its own. */
  readonly gitHandler?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
  /** API routes; answers false when the request is not one of its own. */
  readonly apiHandler?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
  /** The web dashboard: `/`, its assets and `/session`; answers false for other paths. */
  readonly dashboardHandler?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
  readonly onClose?: () => Promise<void>;
}

export interface App {
  readonly server: http.Server;
  /**
   * The server is stopping: no new connections, and /healthz answers 503 `stopping`; requests on
   * open connections are still served (pushes are refused by the git handler itself).
   */
  stopListening(): void;
  close(): Promise<void>;
}

/** Builds the HTTP server without listening: tests call listen(0) themselves. */
export function createApp(deps: AppDeps): App {
  let stopping = false;
  const server = http.createServer({ requestTimeout: 0 }, (req, res) => {
    res.on("error", (err) => deps.log.debug({ err }, "response error"));
    req.on("error", (err) => deps.log.debug({ err }, "request error"));
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname === "/healthz" && (req.method === "GET" || req.method === "HEAD")) {
      res.writeHead(stopping ? 503 : 200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ status: stopping ? "stopping" : "ok" }));
      return;
    }
    if (deps.gitHandler?.(req, res)) return;
    if (deps.apiHandler?.(req, res)) return;
    if (deps.dashboardHandler?.(req, res)) return;
    res.writeHead(404, { "Content-Type": "text/plain" });
    res.end("not found\n");
  });
  // Pushes can be slow and builds long: only idle keep-alive connections time out.
  server.headersTimeout = 60_000;
  return {
    server,
    stopListening() {
      stopping = true;
      server.close();
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await deps.onClose?.();
    },
  };
}
