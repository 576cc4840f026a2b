import { readdirSync, readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PUBLIC_ROUTES } from "../../../src/auth/access.js";
import { createAuthenticator } from "../../../src/auth/principal.js";
import { SESSION_COOKIE } from "../../../src/auth/session-cookie.js";
import { createSessions } from "../../../src/auth/sessions.js";
import { createDashboardHandler } from "../../../src/dashboard/dashboard-handler.js";
import { silentLogger } from "../../../src/log.js";
import { DASHBOARD_DIR } from "../../../src/main.js";

const ADMIN_TOKEN = "dashboard-admin-token-0123456789";
const SAME_ORIGIN = { "Sec-Fetch-Site": "same-origin" };
const JSON_TYPE = { "Content-Type": "application/json" };

let server: http.Server;
let base: string;

beforeAll(async () => {
  const sessions = createSessions(createAuthenticator({ adminToken: ADMIN_TOKEN, log: silentLogger() }));
  const handler = createDashboardHandler({ sessions, dir: DASHBOARD_DIR, log: silentLogger() });
  server = http.createServer((req, res) => {
    if (!handler(req, res)) res.writeHead(418).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const signIn = (headers: Record<string, string> = SAME_ORIGIN, token = ADMIN_TOKEN) =>
  fetch(`${base}/session`, { method: "POST", headers: { ...JSON_TYPE, ...headers }, body: JSON.stringify({ token }) });
const cookieOf = (res: Response): string => res.headers.get("set-cookie")!.split(";")[0]!;

describe("the dashboard's page and assets", () => {
  it("serves the page with a Content-Security-Policy that allows no inline script or style, and no framing", async () => {
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const csp = res.headers.get("content-security-policy")!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/unsafe-|data:|\*/);
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    const html = await res.text();
    // Nothing inline: every script has a src, no style element or attribute, no on* handler.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i);
    expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    // The sign-in form posts: a token typed before the script runs never lands in a URL.
    expect(html).toMatch(/<form id="signin-form" method="post" action="\/session"/);
  });

  it("serves every asset the page names, and the files of the folder, with their types; nothing else", async () => {
    const html = readFileSync(path.join(DASHBOARD_DIR, "index.html"), "utf8");
    const named = [...html.matchAll(/"\/assets\/([^"]+)"/g)].map((m) => m[1]!);
    expect(named).toEqual(expect.arrayContaining(["main.js", "dashboard.css", "icon.svg"]));
    const files = readdirSync(DASHBOARD_DIR).filter((f) => f !== "index.html");
    for (const file of new Set([...named, ...files])) {
      const res = await fetch(`${base}/assets/${file}`);
      expect(res.status, file).toBe(200);
      expect(res.headers.get("content-type"), file).toMatch(/^(text\/javascript|text\/css|image\/svg\+xml)/);
      expect(res.headers.get("content-security-policy")).toBeTruthy();
    }
    for (const p of ["/assets/index.html", "/assets/nope.js", "/assets/..%2Fpackage.json", "/assets/%2e%2e%2fpackage.json", "/assets/", "/assets/main.js/x"]) {
      expect((await fetch(`${base}${p}`)).status, p).not.toBe(200);
    }
    // Other paths are not the dashboard's.
    for (const p of ["/favicon.ico", "/index.html", "/api/apps", "/sessions"]) expect((await fetch(`${base}${p}`)).status, p).toBe(418);
    expect((await fetch(`${base}/`, { method: "POST" })).status).toBe(405);
  });

  it("registers only routes the access table lists as public", () => {
    expect(PUBLIC_ROUTES).toEqual(expect.arrayContaining(["GET /", "GET /assets/:file", "GET /session", "POST /session", "DELETE /session"]));
  });

  it("refuses to start without its files", () => {
    const sessions = createSessions(createAuthenticator({ adminToken: ADMIN_TOKEN, log: silentLogger() }));
    expect(() => createDashboardHandler({ sessions, dir: path.join(DASHBOARD_DIR, "missing"), log: silentLogger() })).toThrow(/dashboard's files are not in/);
  });
});

describe("signing in and out", () => {
  it("says nobody is signed in; a wrong token gets 401 without a Basic challenge and no cookie", async () => {
    expect(await (await fetch(`${base}/session`)).json()).toEqual({ signedIn: false });
    const wrong = await signIn(SAME_ORIGIN, "nope");
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as { id: string }).id).toBe("UNAUTHORIZED");
    expect(wrong.headers.get("www-authenticate")).toBeNull();
    expect(wrong.headers.get("set-cookie")).toBeNull();
  });

  it("signs in with the token in the body into a session cookie (HttpOnly, SameSite=Strict, Secure behind https), and out again", async () => {
    const res = await signIn();
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ signedIn: true, principal: { kind: "admin" }, expiresAt: expect.stringMatching(/^\d{4}-/) });
    const setCookie = res.headers.get("set-cookie")!;
    expect(setCookie).toMatch(new RegExp(`^${SESSION_COOKIE}=[A-Za-z0-9_-]{43}; Path=/; Max-Age=43200; HttpOnly; SameSite=Strict$`));
    expect(setCookie).not.toContain(ADMIN_TOKEN);
    const cookie = cookieOf(res);
    expect(await (await fetch(`${base}/session`, { headers: { Cookie: cookie } })).json()).toMatchObject({ signedIn: true, principal: { kind: "admin" } });

    const secure = await signIn({ ...SAME_ORIGIN, "X-Forwarded-Proto": "https" });
    expect(secure.headers.get("set-cookie")).toMatch(/; Secure$/);

    const out = await fetch(`${base}/session`, { method: "DELETE", headers: { Cookie: cookie, ...SAME_ORIGIN } });
    expect(out.status).toBe(200);
    expect(out.headers.get("set-cookie")).toBe(`${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict`);
    // The old cookie means nothing now, and is removed when it comes back.
    const after = await fetch(`${base}/session`, { headers: { Cookie: cookie } });
    expect(await after.json()).toEqual({ signedIn: false });
    expect(after.headers.get("set-cookie")).toContain("Max-Age=0");
  });

  it("refuses signing in or out from another site (login CSRF)", async () => {
    const elsewhere: Record<string, string>[] = [{ "Sec-Fetch-Site": "cross-site" }, { Origin: "http://evil.example" }, {}];
    for (const headers of elsewhere) {
      const res = await signIn(headers);
      expect(res.status, JSON.stringify(headers)).toBe(403);
      expect(((await res.json()) as { id: string }).id).toBe("CROSS_SITE_REQUEST");
      expect(res.headers.get("set-cookie")).toBeNull();
    }
    const cookie = cookieOf(await signIn());
    const out = await fetch(`${base}/session`, { method: "DELETE", headers: { Cookie: cookie, Origin: "http://evil.example" } });
    expect(out.status).toBe(403);
    expect(await (await fetch(`${base}/session`, { headers: { Cookie: cookie } })).json()).toMatchObject({ signedIn: true });
  });

  it("takes the sign-in form's own POST (no script yet) and answers with a redirect to the page", async () => {
    const form = (token: string) =>
      fetch(`${base}/session`, { method: "POST", redirect: "manual", headers: { ...SAME_ORIGIN, "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ token }).toString() });
    const ok = await form(ADMIN_TOKEN);
    expect(ok.status).toBe(303);
    expect(ok.headers.get("location")).toBe("/");
    expect(ok.headers.get("set-cookie")).toMatch(new RegExp(`^${SESSION_COOKIE}=[A-Za-z0-9_-]{43};`));
    const failed = await form("nope");
    expect([failed.status, failed.headers.get("location")]).toEqual([303, "/#/signin/failed"]);
    expect(failed.headers.get("set-cookie")).toContain("Max-Age=0");
  });
});
