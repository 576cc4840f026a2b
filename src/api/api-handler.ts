import type http from "node:http";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { isActiveBuild } from "../build-status.js";
import { SlugforgeError } from "../errors.js";
import type { Logger } from "../log.js";
import { CONFIG_VAR_NAME_RULE, isConfigVarName, isValidAppName } from "../names.js";
import type { SlugStore } from "../slug/slug-store.js";
import type { ActivityAction, ActivityEntry, MetadataStore, MetadataTx, ReleaseRecord } from "../store/types.js";
import type { DiskGuard } from "../util/disk-space.js";
import type { WebhookEvents } from "../webhooks/index.js";
import { allows, refusal, visibleRelease } from "../auth/access.js";
import { actorOf, type Authenticator } from "../auth/principal.js";
import { requestPrincipal, wantsBasicChallenge } from "../auth/request-principal.js";
import { changesState, crossSiteRefusal } from "../auth/same-origin.js";
import type { Sessions } from "../auth/sessions.js";
import { fail, readJson, sendError, sendJson } from "./http-json.js";
import { renderMetrics, type EngineReport } from "./metrics.js";
import { parseReleaseVersion, RELEASE_VERSION_HINT } from "./release-version.js";
import { createRouter, type RouteContext } from "./router.js";
import { runRoute, type StartRun } from "./run-route.js";
import { addTokenRoutes } from "./token-routes.js";
import { addWebhookRoutes } from "./webhook-routes.js";


export interface ApiDeps {
  /** Tells the admin token, scoped tokens and strangers apart (src/auth/principal.ts). */
  readonly auth: Authenticator;
  /** The dashboard's sign-ins: a session cookie is a credential too (src/auth/sessions.ts). */
  readonly sessions?: Sessions;
  readonly store: MetadataStore;
  readonly slugs: Pick<SlugStore, "get">;
  readonly log: Logger;
  /** The build engines and how they are (SLUGFORGE_BUILD_ENGINES), for /api/engines and /metrics. */
  readonly engines?: () => readonly EngineReport[];
  /** Builds waiting for a slot, for /metrics. */
  readonly queueDepth: () => number;
  /** Spare cache copies being made in the background (see builds/build-caches.ts). */
  readonly cacheCopies?: () => number;
  /** Makes what a new app needs besides its record (its git repo), so its first push need not. */
  readonly prepareApp?: (name: string) => Promise<void>;
  /** Removes what a deleted app had besides its records (repo, caches); may refuse with APP_BUSY. */
  readonly removeApp?: (name: string) => Promise<void>;
  /** How often a followed build's output is polled. */
  readonly followIntervalMs?: number;
  /** Refuses new apps (STORAGE_FULL) while the data folder's disk is under its reserve. */
  readonly disk?: DiskGuard;
  /** Told of the releases a config change or rollback makes, for the app's webhooks. */
  readonly events?: Pick<WebhookEvents, "released">;
  /** Runs one-off processes of releases (`slugforge run`); absent: refused. */
  readonly startRun?: StartRun;
  /**
   * Makes a release's image (src/images, joined in main.ts), waiting a bounded time: after a
   * config change or a rollback, and for `POST .../releases/:version/image`. Absent: images are off.
   */
  readonly releaseImage?: (app: string, version: number) => Promise<ReleaseImageOutcome>;
}

/** How making a release's image went: made, still going on in the background, or failed (and retried). */
export interface ReleaseImageOutcome {
  readonly release: ReleaseRecord;
  readonly state: "made" | "pending" | "failed";
  readonly error?: SlugforgeError;
}

/** The JSON API, shaped after Heroku's Platform API. Answers false for paths it does not own. */
export function createApiHandler(deps: ApiDeps): (req: http.IncomingMessage, res: http.ServerResponse) => boolean {
  const { store } = deps;
  const router = createRouter();
  const app = async (ctx: RouteContext): Promise<string> => {
    const name = ctx.params.app!;
    if (!(await store.getApp(name))) fail("APP_NOT_FOUND", `no app named "${name}"`);
    return name;
  };

  /** Runs a change to an app and records who made it (the app's activity). */
  const change = <T>(ctx: RouteContext, app: string, action: ActivityAction, detail: ActivityEntry<T>["detail"], apply: (tx: MetadataTx) => Promise<T>): Promise<T> =>
    store.recordActivity({ app, actor: actorOf(ctx.principal), action, detail }, apply);

  router.add("GET", "/api/apps", async ({ res, principal }) => sendJson(res, 200, (await store.listApps()).filter((a) => allows(principal, "read", a.name))));
  router.add("POST", "/api/apps", async (ctx) => {
    const body = (await readJson(ctx.req)) as { name?: unknown };
    const name = typeof body?.name === "string" ? body.name : "";
    if (!isValidAppName(name)) fail("APP_NAME_INVALID", `"${name}" is not a valid app name`);
    await deps.disk?.check(`Creating the app ${name}`);
    const created = await change(ctx, name, "app.create", "created through the API", (tx) => tx.createApp(name));
    await deps.prepareApp?.(name);
    sendJson(ctx.res, 201, created);
  });
  router.add("GET", "/api/apps/:app", async (ctx) => sendJson(ctx.res, 200, await store.getApp(await app(ctx))));
  router.add("DELETE", "/api/apps/:app", async (ctx) => {
    const name = await app(ctx);
    // Repo and caches first: a push running now refuses the delete before anything is gone.
    await deps.removeApp?.(name);
    await change(ctx, name, "app.delete", "deleted with its records, repo, caches and tokens", (tx) => tx.deleteApp(name));
    sendJson(ctx.res, 200, { name, deleted: true });
  });
  router.add("GET", "/api/apps/:app/config-vars", async (ctx) => sendJson(ctx.res, 200, await store.getConfigVars(await app(ctx))));
  router.add("PATCH", "/api/apps/:app/config-vars", async (ctx) => {
    const name = await app(ctx);
    const body = await readJson(ctx.req);
    if (typeof body !== "object" || body === null || Array.isArray(body)) fail("BAD_REQUEST", 'send an object: {"KEY": "value", "OLD": null}');
    const changes: Record<string, string | null> = {};
    for (const [key, value] of Object.entries(body)) {
      if (!isConfigVarName(key)) fail("CONFIG_INVALID", `"${key}" is not a valid config var name (${CONFIG_VAR_NAME_RULE})`);
      if (value !== null && typeof value !== "string") fail("CONFIG_INVALID", `the value of ${key} must be a string, or null to remove it`);
      changes[key] = value;
    }
    // A PATCH that changes nothing is not a change: no release, and nothing in the activity.
    const before = await store.getConfigVars(name);
    const changesSomething = Object.entries(changes).some(([k, v]) => (v === null ? k in before : before[k] !== v));
    const apply = async (tx: MetadataTx): ReturnType<MetadataStore["updateConfigVars"]> => {
      const result = await tx.updateConfigVars(name, changes);
      if (result.release) await deps.events?.released(tx, result.release, { kind: "config" });
      return result;
    };
    const { config, release } = changesSomething
      ? await change(ctx, name, "config", (r) => describeConfigChange(changes, r.release?.version), apply)
      : await apply(store);
    sendJson(ctx.res, 200, { config, release: release ? await withImage(release) : null });
  });
  router.add("GET", "/api/apps/:app/builds", async (ctx) => sendJson(ctx.res, 200, await store.listBuilds(await app(ctx))));
  const buildApp = async (ctx: RouteContext): Promise<string> => (await build(ctx.params.id!)).app;
  router.add("GET", "/api/builds/:id", async (ctx) => sendJson(ctx.res, 200, await build(ctx.params.id!)), buildApp);
  router.add("GET", "/api/builds/:id/output", (ctx) => followOutput(ctx, ctx.params.id!), buildApp);
  router.add("GET", "/api/apps/:app/slugs", async (ctx) => sendJson(ctx.res, 200, await store.listSlugs(await app(ctx))));
  const slugApp = async (ctx: RouteContext): Promise<string> => (await slug(ctx)).app;
  router.add("GET", "/api/slugs/:id", async (ctx) => sendJson(ctx.res, 200, await slug(ctx)), slugApp);
  router.add("GET", "/api/slugs/:id/blob", async (ctx) => {
    const meta = await slug(ctx);
    const stream = await deps.slugs.get(meta.id);
    if (!stream) fail("INTERNAL", `slug ${meta.id} is recorded but its file is missing`);
    ctx.res.writeHead(200, { "Content-Type": "application/gzip", "Content-Length": String(meta.sizeBytes), "X-Slug-Id": meta.id });
    await pipeline(stream, ctx.res).catch((err: unknown) => {
      deps.log.error({ err, slug: meta.id }, "slug download failed");
      ctx.res.destroy();
    });
  }, slugApp);
  router.add("GET", "/api/apps/:app/releases", async (ctx) => sendJson(ctx.res, 200, (await store.listReleases(await app(ctx))).map((r) => visibleRelease(ctx.principal, r))));
  router.add("POST", "/api/apps/:app/releases", async (ctx) => {
    const name = await app(ctx);
    const body = (await readJson(ctx.req)) as { release?: unknown } | null;
    const version = parseReleaseVersion(body?.release);
    if (version === undefined) fail("BAD_REQUEST", RELEASE_VERSION_HINT);
    const release = await change(ctx, name, "rollback", (r) => `to v${version}: release v${r.version}`, async (tx: MetadataTx) => {
      const made = await tx.rollback(name, version);
      await deps.events?.released(tx, made, { kind: "rollback" });
      return made;
    });
    sendJson(ctx.res, 201, visibleRelease(ctx.principal, await withImage(release)));
  });
  router.add("POST", "/api/apps/:app/releases/:version/image", async (ctx) => {
    const name = await app(ctx);
    const version = parseReleaseVersion(ctx.params.version);
    if (version === undefined || !(await store.getRelease(name, version))) fail("NOT_FOUND", `${name} has no release ${ctx.params.version}; \`slugforge releases ${name}\` lists them`);
    if (!deps.releaseImage) fail("CONFIG_INVALID", "release images are off on this server (SLUGFORGE_IMAGES=off)");
    const outcome = await deps.releaseImage(name, version);
    if (outcome.state === "failed") throw outcome.error ?? new SlugforgeError("INTERNAL", `the image of ${name} v${version} was not made`);
    // 202: accepted, still being made (it carries on in the background; the release will show it).
    sendJson(ctx.res, outcome.state === "made" ? 200 : 202, visibleRelease(ctx.principal, outcome.release));
  });
  router.add("POST", "/api/apps/:app/run", async (ctx) => runRoute(ctx, await app(ctx), store, deps.startRun, deps.log));
  router.add("GET", "/api/apps/:app/activity", async (ctx) => {
    const name = ctx.params.app!;
    const current = await store.getApp(name);
    // The admin also sees a deleted app's activity; a token sees its own app's since it was made,
    // not that of an earlier app with the same name.
    const since = ctx.principal.kind === "admin" ? undefined : current?.createdAt;
    const entries = await store.listActivity(name, since);
    if (!current && entries.length === 0) fail("APP_NOT_FOUND", `no app named "${name}", and none by that name had any activity`);
    sendJson(ctx.res, 200, entries);
  });
  addTokenRoutes(router, { store, change });
  addWebhookRoutes(router, { store, app, change });
  router.add("GET", "/metrics", async ({ res }) => {
    const stats = await store.stats();
    res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4" });
    res.end(renderMetrics(stats, deps.queueDepth(), deps.cacheCopies?.() ?? 0, deps.engines?.() ?? []));
  });
  // Without SLUGFORGE_BUILD_ENGINES builds use the one engine of DOCKER_HOST, and the list is empty.
  router.add("GET", "/api/engines", ({ res }) => sendJson(res, 200, (deps.engines?.() ?? []).map((e) => ({ ...e, lastError: e.lastError ?? null }))));

  /** A new release (config change, rollback) with its image when it was made in time; the release stands either way. */
  async function withImage(release: ReleaseRecord): Promise<ReleaseRecord> {
    if (!deps.releaseImage) return release;
    try {
      return (await deps.releaseImage(release.app, release.version)).release;
    } catch (err) {
      deps.log.error({ err, app: release.app, release: release.version }, "release image attempt failed");
      return (await store.getRelease(release.app, release.version)) ?? release;
    }
  }

  async function build(id: string) {
    const record = await store.getBuild(id);
    if (!record) fail("NOT_FOUND", `no build with id ${id}`);
    return record;
  }
  /** A token's own app's record of the slug first: equal bytes are one slug shared by apps. */
  async function slug(ctx: RouteContext) {
    const id = ctx.params.id!;
    const record = (ctx.principal.kind === "token" ? await store.getSlug(id, ctx.principal.app) : undefined) ?? (await store.getSlug(id));
    if (!record) fail("NOT_FOUND", `no slug with id ${id}`);
    return record;
  }

  async function followOutput(ctx: RouteContext, id: string): Promise<void> {
    await build(id);
    ctx.res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store", "X-Accel-Buffering": "no" });
    let seq = 0;
    let closed = false;
    ctx.res.on("close", () => (closed = true));
    while (!closed) {
      for (const part of await store.readBuildOutput(id, seq)) {
        ctx.res.write(part.chunk);
        seq = part.seq;
      }
      if (!isActiveBuild((await store.getBuild(id))?.status)) {
        // One last read: output written between the read above and the status change.
        for (const part of await store.readBuildOutput(id, seq)) ctx.res.write(part.chunk);
        break;
      }
      await sleep(deps.followIntervalMs ?? 250);
    }
    ctx.res.end();
  }

  return (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (!url.pathname.startsWith("/api/") && url.pathname !== "/metrics") return false;
    // Answers are data, never a page: opened in a tab (a build's output is hostile text), nothing
    // in them is sniffed as HTML or runs.
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; sandbox");
    void (async () => {
      try {
        const { via, principal } = await requestPrincipal(req.headers, deps.auth, deps.sessions);
        if (!principal) {
          if (wantsBasicChallenge(req.headers, via)) res.setHeader("WWW-Authenticate", 'Basic realm="slugforge"');
          fail("UNAUTHORIZED", via === "session" ? "the dashboard session has ended (signed out, expired, or its token revoked); sign in again" : "missing, wrong or revoked API token");
        }
        // A browser sends the cookie by itself; a change made with it must come from our own pages.
        const crossSite = via === "session" && changesState(req.method) ? crossSiteRefusal(req.headers) : undefined;
        if (crossSite !== undefined) fail("CROSS_SITE_REQUEST", `${crossSite}; nothing was changed`);
        const found = router.match(req.method ?? "GET", url.pathname);
        if (found === undefined) return sendJson(res, 404, { id: "NOT_FOUND", message: `no such endpoint: ${url.pathname}` });
        if (found === "method") return sendJson(res, 405, { id: "BAD_REQUEST", message: `${req.method} is not allowed on ${url.pathname}` });
        const ctx: RouteContext = { req, res, params: found.params, query: url.searchParams, principal };
        const refused = refusal(principal, found.need, found.params.app ?? (await found.appOf?.(ctx)));
        if (refused !== undefined) fail("FORBIDDEN", refused);
        await found.handler(ctx);
      } catch (err) {
        if (!(err instanceof SlugforgeError) || err.code === "INTERNAL") deps.log.error({ err }, "API request failed");
        sendError(res, err);
      }
    })();
    return true;
  };
}

/** `set A, B; unset C; release v4`: names only, never values. */
function describeConfigChange(changes: Readonly<Record<string, string | null>>, release: number | undefined): string {
  const set = Object.keys(changes).filter((k) => changes[k] !== null);
  const unset = Object.keys(changes).filter((k) => changes[k] === null);
  return [set.length ? `set ${set.join(", ")}` : "", unset.length ? `unset ${unset.join(", ")}` : "", release ? `release v${release}` : ""].filter(Boolean).join("; ");
}
