import type { ReleaseRecord } from "../store/types.js";
import type { Principal } from "./principal.js";

/**
 * What a route needs. `admin`: the admin token only. `read` / `deploy`: that scope (or admin) on
 * the route's app. `signed-in`: any principal; the route shows only what it may read.
 */
export type Need = "admin" | "deploy" | "read" | "signed-in";

/**
 * Every API route and what it needs: the router refuses to register a route missing here, and
 * test/integration/auth/access-matrix.test.ts runs each one against every kind of principal.
 * Scoped tokens never see config var values: those routes are admin's, and releases reach them
 * with the names only.
 */
export const API_ACCESS: Readonly<Record<string, Need>> = {
  "GET /api/apps": "signed-in",
  "POST /api/apps": "admin",
  "GET /api/apps/:app": "read",
  "DELETE /api/apps/:app": "admin",
  "GET /api/apps/:app/config-vars": "admin",
  "PATCH /api/apps/:app/config-vars": "admin",
  "GET /api/apps/:app/builds": "read",
  "GET /api/builds/:id": "read",
  "GET /api/builds/:id/output": "read",
  "GET /api/apps/:app/slugs": "read",
  "GET /api/slugs/:id": "read",
  "GET /api/slugs/:id/blob": "read",
  "GET /api/apps/:app/releases": "read",
  "POST /api/apps/:app/releases": "deploy",
  // A one-off process gets the release's config vars: whoever runs one can read them.
  "POST /api/apps/:app/run": "admin",
  "POST /api/apps/:app/releases/:version/image": "deploy",
  "GET /api/apps/:app/activity": "read",
  // Webhooks are the admin's: a URL points the server at any address it can reach, and deliveries
  // show what was sent where (docs/security.md).
  "GET /api/apps/:app/webhooks": "admin",
  "POST /api/apps/:app/webhooks": "admin",
  "DELETE /api/apps/:app/webhooks/:id": "admin",
  "GET /api/apps/:app/webhook-deliveries": "admin",
  "GET /api/tokens": "admin",
  "POST /api/tokens": "admin",
  "DELETE /api/tokens/:id": "admin",
  "GET /metrics": "admin",
  "GET /api/engines": "admin",
};

/**
 * The routes anyone may call, with no principal: liveness, the dashboard's page and its assets (no
 * data in them: the page asks the API for that, with the session cookie), and the session itself
 * (signing in is how a browser gets a principal; signing out needs none). The dashboard refuses
 * to serve a route missing here, and the access matrix runs each one.
 */
export const PUBLIC_ROUTES: readonly string[] = ["GET /healthz", "GET /", "GET /assets/:file", "GET /session", "POST /session", "DELETE /session"];

/**
 * The git endpoints, by service: `info/refs?service=X` and `POST /X` need the same, so a client
 * learns at the advertisement what its push or fetch would get.
 */
export const GIT_ACCESS: Readonly<Record<"git-receive-pack" | "git-upload-pack", Need>> = {
  "git-receive-pack": "deploy",
  "git-upload-pack": "read",
};

/** Why `principal` may not do what `need` asks on `app`; undefined when it may. */
export function refusal(principal: Principal, need: Need, app: string | undefined): string | undefined {
  if (principal.kind === "admin" || need === "signed-in") return undefined;
  if (need === "admin") return `only the admin token may do this; token ${principal.id} is a ${principal.scope} token for ${principal.app}`;
  if (app !== principal.app) return `token ${principal.id} is for ${principal.app}, not ${app ?? "this resource"}`;
  if (need === "deploy" && principal.scope !== "deploy") return `token ${principal.id} may only read ${app}; pushing and rolling back need a deploy token`;
  return undefined;
}

export function allows(principal: Principal, need: Need, app: string | undefined): boolean {
  return refusal(principal, need, app) === undefined;
}

/**
 * A release as a principal may see it. Scoped tokens get the config var names without their
 * values: a deploy token for CI must not become a way to read the app's secrets.
 */
export function visibleRelease(principal: Principal, release: ReleaseRecord): ReleaseRecord | (Omit<ReleaseRecord, "config"> & { configVars: string[] }) {
  if (principal.kind === "admin") return release;
  const { config, ...rest } = release;
  return { ...rest, configVars: Object.keys(config) };
}
