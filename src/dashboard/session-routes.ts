import type http from "node:http";
import { sessionIdOf, sessionCookie, clearedSessionCookie } from "../auth/session-cookie.js";
import { crossSiteRefusal, servedOverHttps } from "../auth/same-origin.js";
import type { Principal } from "../auth/principal.js";
import type { Session, Sessions } from "../auth/sessions.js";
import { fail, readBody, readJson, sendJson } from "../api/http-json.js";
import { PAGE_HEADERS } from "./page-headers.js";

/** What the page learns of who is signed in: the principal (never a token) and when the session ends. */
type SessionView = { signedIn: false } | { signedIn: true; principal: Principal; expiresAt: string };

const MAX_FORM_BYTES = 16 * 1024;

/**
 * `/session`: GET says who is signed in, POST signs in with a token (JSON `{"token": ...}` from the
 * page's script, or the sign-in form's own POST when the script has not loaded: a POST either way,
 * so the token is never in a URL), DELETE signs out. POST and DELETE must come from our own pages.
 */
export function createSessionRoutes(sessions: Sessions) {
  const reply = (res: http.ServerResponse, status: number, body: SessionView, cookie?: string): void => {
    for (const [k, v] of Object.entries(PAGE_HEADERS)) res.setHeader(k, v);
    if (cookie !== undefined) res.setHeader("Set-Cookie", cookie);
    sendJson(res, status, body);
  };
  const cookieOptions = (req: http.IncomingMessage) => ({ secure: servedOverHttps(req) });
  const sameOrigin = (req: http.IncomingMessage): void => {
    const refused = crossSiteRefusal(req.headers);
    if (refused !== undefined) fail("CROSS_SITE_REQUEST", `${refused}; signing in and out is done from the dashboard's own page`);
  };

  return {
    async get(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
      const id = sessionIdOf(req.headers.cookie);
      const session = id === undefined ? undefined : await sessions.find(id);
      // A cookie whose session has ended is removed, so the browser stops sending it.
      if (!session) return reply(res, 200, { signedIn: false }, id === undefined ? undefined : clearedSessionCookie(cookieOptions(req)));
      reply(res, 200, view(session));
    },
    async post(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
      sameOrigin(req);
      const form = /^application\/x-www-form-urlencoded\b/i.test(req.headers["content-type"] ?? "");
      const token = form ? await readFormToken(req) : tokenOf(await readJson(req));
      const old = sessionIdOf(req.headers.cookie);
      if (old !== undefined) sessions.end(old);
      const session = await sessions.start(token);
      if (form) {
        // The form's own POST: back to the page, which shows the result.
        const cookie = session ? sessionCookie(session.id, session.expiresAt - Date.now(), cookieOptions(req)) : clearedSessionCookie(cookieOptions(req));
        res.writeHead(303, { ...PAGE_HEADERS, Location: session ? "/" : "/#/signin/failed", "Set-Cookie": cookie, "Cache-Control": "no-store" });
        res.end();
        return;
      }
      if (!session) fail("UNAUTHORIZED", "that token is not valid (wrong, unknown or revoked)");
      reply(res, 200, view(session), sessionCookie(session.id, session.expiresAt - Date.now(), cookieOptions(req)));
    },
    delete(req: http.IncomingMessage, res: http.ServerResponse): void {
      sameOrigin(req);
      const id = sessionIdOf(req.headers.cookie);
      if (id !== undefined) sessions.end(id);
      reply(res, 200, { signedIn: false }, clearedSessionCookie(cookieOptions(req)));
    },
  };
}

function view(session: Session): SessionView {
  return { signedIn: true, principal: session.principal, expiresAt: new Date(session.expiresAt).toISOString() };
}

function tokenOf(body: unknown): string {
  const token = typeof body === "object" && body !== null ? (body as { token?: unknown }).token : undefined;
  if (typeof token !== "string") fail("BAD_REQUEST", 'send the token as {"token": "..."}');
  return token.trim();
}

async function readFormToken(req: http.IncomingMessage): Promise<string> {
  const form = await readBody(req, MAX_FORM_BYTES, "the sign-in form is larger than 16 KiB");
  return (new URLSearchParams(form).get("token") ?? "").trim();
}
