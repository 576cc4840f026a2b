import type http from "node:http";
import { PUBLIC_ROUTES } from "../auth/access.js";
import type { Sessions } from "../auth/sessions.js";
import { sendError, sendJson } from "../api/http-json.js";
import { SlugforgeError } from "../errors.js";
import type { Logger } from "../log.js";
import { PAGE_HEADERS } from "./page-headers.js";
import { createSessionRoutes } from "./session-routes.js";
import { staticFiles } from "./static-files.js";

export interface DashboardDeps {
  readonly sessions: Sessions;
  /** The folder of index.html and its assets (`dashboard/` in the repo). */
  readonly dir: string;
  readonly log: Logger;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, param: string) => Promise<void> | void;

/**
 * The web dashboard: one page (`/`), its scripts and styles (`/assets/<file>`) and the session
 * (`/session`). None of these carries data: the page's script reads the JSON API with the
 * session cookie, under the same access table as any token. Answers false for other paths.
 */
export function createDashboardHandler(deps: DashboardDeps): (req: http.IncomingMessage, res: http.ServerResponse) => boolean {
  const files = staticFiles(deps.dir);
  const session = createSessionRoutes(deps.sessions);
  const routes: Record<string, Handler> = {
    "GET /": (_req, res) => files.page(res),
    "GET /assets/:file": async (_req, res, file) => {
      if (!(await files.asset(file, res))) notFound(res);
    },
    "GET /session": (req, res) => session.get(req, res),
    "POST /session": (req, res) => session.post(req, res),
    "DELETE /session": (req, res) => session.delete(req, res),
  };
  // Each of these answers without a principal: the access table must say so.
  for (const route of Object.keys(routes)) {
    if (!PUBLIC_ROUTES.includes(route)) throw new Error(`${route} is not in PUBLIC_ROUTES (src/auth/access.ts)`);
  }

  return (req, res) => {
    const { pathname } = new URL(req.url ?? "/", "http://localhost");
    const asset = /^\/assets\/([^/]+)$/.exec(pathname);
    const path = asset ? "/assets/:file" : pathname;
    if (path !== "/" && path !== "/session" && path !== "/assets/:file") return false;
    const handler = routes[`${req.method} ${path}`];
    void (async () => {
      try {
        if (!handler) {
          const allowed = Object.keys(routes).filter((r) => r.endsWith(` ${path}`)).map((r) => r.split(" ")[0]);
          res.setHeader("Allow", allowed.join(", "));
          return sendJson(res, 405, { id: "BAD_REQUEST", message: `${req.method} is not allowed on ${pathname}` });
        }
        await handler(req, res, asset?.[1] ?? "");
      } catch (err) {
        if (!(err instanceof SlugforgeError) || err.code === "INTERNAL") deps.log.error({ err }, "dashboard request failed");
        sendError(res, err);
      }
    })();
    return true;
  };
}

function notFound(res: http.ServerResponse): void {
  res.writeHead(404, { ...PAGE_HEADERS, "Content-Type": "text/plain; charset=utf-8" });
  res.end("not found\n");
}
