import http from "node:http";
import path from "node:path";
import { Readable } from "node:stream";
import zlib from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_ACCESS, PUBLIC_ROUTES } from "../../../src/auth/access.js";
import { createStoreRecorder } from "../../../src/builds/store-recorder.js";
import type { Builder } from "../../../src/builds/types.js";
import { parseConfig } from "../../../src/config/parse-config.js";
import type { ContainerRuntime } from "../../../src/docker/container-runtime.js";
import { writePktLine } from "../../../src/git/pkt-line.js";
import { SESSION_COOKIE } from "../../../src/auth/session-cookie.js";
import { silentLogger } from "../../../src/log.js";
import { createServer, type Server } from "../../../src/main.js";
import { createFsSlugStore } from "../../../src/slug/fs-slug-store.js";
import { openSqliteStore } from "../../../src/store/sqlite-store.js";
import type { ActivityRecord, MetadataStore, TokenRecord } from "../../../src/store/types.js";
import { FakeBuilder } from "../../helpers/fake-builder.js";
import { GitClient } from "../../helpers/git-client.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";

// The whole server as `slugforge serve` assembles it (createServer), with a fake builder behind
// the real store recorder, so pushes leave builds, slugs and releases without Docker.

const ADMIN_TOKEN = "matrix-admin-token-0123456789";
const SECRET_VALUE = "hunter2-scoped-tokens-never-see-this";
const dirs = tmpDirs();

/** Nothing here builds in Docker: the sweep at start finds no containers, anything else is a bug. */
const noEngine: ContainerRuntime = {
  ping: () => Promise.reject(new Error("no engine in this test")),
  inspectImage: () => Promise.reject(new Error("no engine in this test")),
  listImages: () => Promise.reject(new Error("no engine in this test")),
  importImage: () => Promise.reject(new Error("no engine in this test")),
  removeImage: () => Promise.reject(new Error("no engine in this test")),
  saveImage: () => Promise.reject(new Error("no engine in this test")),
  loadImage: () => Promise.reject(new Error("no engine in this test")),
  layerAccess: () => Promise.resolve(false),
  create: () => Promise.reject(new Error("no engine in this test")),
  start: () => Promise.reject(new Error("no engine in this test")),
  runOnce: () => Promise.reject(new Error("no engine in this test")),
  listContainers: () => Promise.resolve([]),
  removeContainer: () => Promise.resolve(),
  sweepOrphans: () => Promise.resolve(0),
};

const PRINCIPALS = ["none", "wrong", "admin", "deployOwn", "deployOther", "readOwn", "readOther", "revoked"] as const;
type PrincipalName = (typeof PRINCIPALS)[number];

interface World {
  readonly server: Server;
  readonly port: number;
  readonly store: MetadataStore;
  readonly fake: FakeBuilder;
  readonly git: GitClient;
  /** The secret of each principal that has one. */
  readonly tokens: Record<Exclude<PrincipalName, "none">, string>;
  readonly ids: Record<"deployOwn" | "deployOther" | "readOwn" | "readOther" | "revoked" | "spare", string>;
  /** A webhook of own, for the admin's cell of its DELETE. */
  readonly webhookId: string;
  /** A dashboard session cookie of each principal that has a token, made by signing in before the revocation. */
  readonly cookies: Record<Exclude<PrincipalName, "none">, string>;
  /** The commit on own's main, a build of it and its slug. */
  readonly head: string;
  readonly buildId: string;
  readonly slugId: string;
  close(): Promise<void>;
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(port: number, method: string, url: string, headers: Record<string, string>, body?: Buffer | string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path: url, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("latin1") }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Two apps, `own` (pushed once, with a secret config var) and `other`, and a token of each kind. */
async function makeWorld(): Promise<World> {
  const dataDir = await dirs.make("sf-matrix-data-");
  // Images off: there is no engine to make them with (the route answers CONFIG_INVALID for who may call it).
  const parsed = parseConfig({ PORT: "0", SLUGFORGE_HOST: "127.0.0.1", SLUGFORGE_DATA: dataDir, SLUGFORGE_TOKEN: ADMIN_TOKEN, SLUGFORGE_IMAGES: "off" });
  if (parsed.errors) throw new Error(parsed.errors.join("; "));
  const fake = new FakeBuilder({ steps: ["-----> fake build"] });
  const slugs = createFsSlugStore(path.join(dataDir, "slugs"));
  // A second connection to the server's database, as an operator's sqlite3 shell would be.
  const store = openSqliteStore(path.join(dataDir, "metadata.db"));
  // What the build service does around a build, with the fake in its place: the real recorder.
  const builder: Builder = {
    async build(request, output, signal) {
      const recorder = createStoreRecorder(store, { stack: "debian-13", log: silentLogger() });
      const buildId = `matrix-${fake.builds.length + 1}`;
      await recorder.queued(buildId, request);
      await recorder.started(buildId);
      const result = { ...(await fake.build(request, output, signal)), buildId };
      const slug = result.status === "succeeded" ? await slugs.put(Readable.from([zlib.gzipSync(request.commit)])) : undefined;
      const recorded = slug ? { ...result, slug: { ...slug, sha256: slug.id.slice(7) } } : result;
      for (const line of (await recorder.finished(request, recorded))?.lines ?? []) output.write(`       ${line}\n`);
      return recorded;
    },
  };
  const server = await createServer(parsed.config, { log: silentLogger(), runtime: noEngine, builder });
  const port = await server.listen();
  const admin = { Authorization: `Bearer ${ADMIN_TOKEN}`, "Content-Type": "application/json" };
  const api = async <T>(method: string, url: string, body?: unknown): Promise<T> => {
    const r = await request(port, method, url, admin, body === undefined ? undefined : JSON.stringify(body));
    if (r.status >= 300) throw new Error(`${method} ${url}: ${r.status} ${r.body}`);
    return JSON.parse(r.body) as T;
  };
  for (const name of ["own", "other"]) await api("POST", "/api/apps", { name });
  const git = new GitClient(await dirs.make("sf-matrix-home-"));
  const work = await dirs.make("sf-matrix-work-");
  const head = await git.initRepo(work);
  const push = await git.run(["push", `http://git:${ADMIN_TOKEN}@127.0.0.1:${port}/own.git`, "HEAD:main"], work);
  if (push.code !== 0) throw new Error(push.stderr);
  await api("PATCH", "/api/apps/own/config-vars", { SECRET: SECRET_VALUE });
  const build = (await store.listBuilds("own"))[0]!;

  const made: Record<string, { id: string; token: string }> = {};
  const specs = { deployOwn: ["own", "deploy"], deployOther: ["other", "deploy"], readOwn: ["own", "read"], readOther: ["other", "read"], revoked: ["own", "deploy"], spare: ["own", "read"] };
  for (const [name, [app, scope]] of Object.entries(specs)) made[name] = await api("POST", "/api/tokens", { app, scope });
  const cookies: Record<string, string> = { wrong: `${SESSION_COOKIE}=${"A".repeat(43)}`, admin: await signIn(port, ADMIN_TOKEN) };
  for (const name of ["deployOwn", "deployOther", "readOwn", "readOther", "revoked"]) cookies[name] = await signIn(port, made[name]!.token);
  await api("DELETE", `/api/tokens/${made.revoked!.id}`);
  // Port 9 is one fetch refuses ("bad port"): deliveries fail at once and nothing is sent anywhere.
  const webhook = await api<{ id: string }>("POST", "/api/apps/own/webhooks", { url: "http://127.0.0.1:9/matrix" });
  return {
    server,
    port,
    store,
    fake,
    git,
    tokens: {
      wrong: "sfk_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      admin: ADMIN_TOKEN,
      deployOwn: made.deployOwn!.token,
      deployOther: made.deployOther!.token,
      readOwn: made.readOwn!.token,
      readOther: made.readOther!.token,
      revoked: made.revoked!.token,
    },
    ids: Object.fromEntries(Object.entries(made).map(([k, v]) => [k, v.id])) as World["ids"],
    webhookId: webhook.id,
    cookies: cookies as World["cookies"],
    head,
    buildId: build.id,
    slugId: build.slugId!,
    async close() {
      await store.close();
      await server.close();
    },
  };
}

/** Signs in to the dashboard with a token; the session cookie as a Cookie header value. */
async function signIn(port: number, token: string): Promise<string> {
  const r = await request(port, "POST", "/session", { ...JSON_TYPE, ...SAME_ORIGIN }, JSON.stringify({ token }));
  if (r.status !== 200) throw new Error(`sign-in: ${r.status} ${r.body}`);
  return String(r.headers["set-cookie"]).split(";")[0]!;
}

const basic = (token: string): string => `Basic ${Buffer.from(`git:${token}`).toString("base64")}`;

/**
 * Credentials as each client sends them: the API gets Bearer, git gets Basic, and the dashboard's
 * page its session cookie (with the Fetch Metadata a browser adds to the page's own requests).
 */
function credentials(world: World, who: PrincipalName, scheme: "bearer" | "basic" | "cookie"): Record<string, string> {
  if (who === "none") return scheme === "cookie" ? SAME_ORIGIN : {};
  if (scheme === "cookie") return { Cookie: world.cookies[who], ...SAME_ORIGIN };
  const token = world.tokens[who];
  return { Authorization: scheme === "bearer" ? `Bearer ${token}` : basic(token) };
}

interface Row {
  /** The API_ACCESS key, or a name for what is not in it. */
  readonly route: string;
  readonly method: string;
  readonly url: (w: World) => string;
  readonly body?: (w: World, cell: number, who: PrincipalName) => Buffer | string;
  readonly headers?: Record<string, string>;
  readonly git?: boolean;
  /** A route anyone may call (PUBLIC_ROUTES): the dashboard's page, assets and session. */
  readonly public?: boolean;
  /** Sent without the principal's credentials (signing in and out: the session routes take none). */
  readonly bare?: boolean;
  /** Statuses for: none, wrong, admin, deployOwn, deployOther, readOwn, readOther, revoked. */
  readonly expect: readonly [number, number, number, number, number, number, number, number];
  /** The admin's cell changes the world for every other cell (deleting the app takes its tokens): it runs last. */
  readonly adminLast?: boolean;
}

const json = (value: unknown) => () => JSON.stringify(value);
const JSON_TYPE = { "Content-Type": "application/json" };
const SAME_ORIGIN = { "Sec-Fetch-Site": "same-origin" };
const ANYONE = [200, 200, 200, 200, 200, 200, 200, 200] as const;
//                                                      none wrong admin dOwn dOther rOwn rOther revoked
const READ = [401, 401, 200, 200, 403, 200, 403, 401] as const;
const ADMIN_ONLY = [401, 401, 200, 403, 403, 403, 403, 401] as const;

const ROWS: readonly Row[] = [
  { route: "GET /healthz", method: "GET", url: () => "/healthz", public: true, expect: ANYONE },
  { route: "GET /", method: "GET", url: () => "/", public: true, expect: ANYONE },
  { route: "GET /assets/:file", method: "GET", url: () => "/assets/main.js", public: true, expect: ANYONE },
  { route: "GET /session", method: "GET", url: () => "/session", public: true, expect: ANYONE },
  {
    route: "POST /session",
    method: "POST",
    url: () => "/session",
    // Signing in: the token is in the body (each principal's own), not in a header.
    body: (w, _cell, who) => JSON.stringify({ token: who === "none" ? "" : w.tokens[who] }),
    headers: { ...JSON_TYPE, ...SAME_ORIGIN },
    public: true,
    bare: true,
    expect: [401, 401, 200, 200, 200, 200, 200, 401],
  },
  { route: "DELETE /session", method: "DELETE", url: () => "/session", headers: SAME_ORIGIN, public: true, bare: true, expect: ANYONE },
  { route: "GET /api/apps", method: "GET", url: () => "/api/apps", expect: [401, 401, 200, 200, 200, 200, 200, 401] },
  { route: "POST /api/apps", method: "POST", url: () => "/api/apps", body: (_w, cell) => JSON.stringify({ name: `made-${cell}` }), headers: JSON_TYPE, expect: [401, 401, 201, 403, 403, 403, 403, 401] },
  { route: "GET /api/apps/:app", method: "GET", url: () => "/api/apps/own", expect: READ },
  { route: "GET /api/apps/:app/config-vars", method: "GET", url: () => "/api/apps/own/config-vars", expect: ADMIN_ONLY },
  { route: "PATCH /api/apps/:app/config-vars", method: "PATCH", url: () => "/api/apps/own/config-vars", body: json({ MODE: "matrix" }), headers: JSON_TYPE, expect: ADMIN_ONLY },
  { route: "GET /api/apps/:app/builds", method: "GET", url: () => "/api/apps/own/builds", expect: READ },
  { route: "GET /api/builds/:id", method: "GET", url: (w) => `/api/builds/${w.buildId}`, expect: READ },
  { route: "GET /api/builds/:id/output", method: "GET", url: (w) => `/api/builds/${w.buildId}/output`, expect: READ },
  { route: "GET /api/apps/:app/slugs", method: "GET", url: () => "/api/apps/own/slugs", expect: READ },
  { route: "GET /api/slugs/:id", method: "GET", url: (w) => `/api/slugs/${w.slugId}`, expect: READ },
  { route: "GET /api/slugs/:id/blob", method: "GET", url: (w) => `/api/slugs/${w.slugId}/blob`, expect: READ },
  { route: "GET /api/apps/:app/releases", method: "GET", url: () => "/api/apps/own/releases", expect: READ },
  { route: "POST /api/apps/:app/releases", method: "POST", url: () => "/api/apps/own/releases", body: json({ release: 1 }), headers: JSON_TYPE, expect: [401, 401, 201, 201, 403, 403, 403, 401] },
  {
    route: "POST /api/apps/:app/run",
    method: "POST",
    url: () => "/api/apps/own/run",
    headers: { "Content-Type": "application/x-slugforge-run", "X-Slugforge-Run": Buffer.from(JSON.stringify({ args: ["true"] })).toString("base64url") },
    expect: ADMIN_ONLY,
  },
  { route: "POST /api/apps/:app/releases/:version/image", method: "POST", url: () => "/api/apps/own/releases/v1/image", expect: [401, 401, 400, 400, 403, 403, 403, 401] },
  { route: "GET /api/apps/:app/activity", method: "GET", url: () => "/api/apps/own/activity", expect: READ },
  { route: "GET /api/apps/:app/webhooks", method: "GET", url: () => "/api/apps/own/webhooks", expect: ADMIN_ONLY },
  {
    route: "POST /api/apps/:app/webhooks",
    method: "POST",
    url: () => "/api/apps/own/webhooks",
    body: json({ url: "http://127.0.0.1:9/matrix", events: ["build"] }),
    headers: JSON_TYPE,
    expect: [401, 401, 201, 403, 403, 403, 403, 401],
  },
  { route: "DELETE /api/apps/:app/webhooks/:id", method: "DELETE", url: (w) => `/api/apps/own/webhooks/${w.webhookId}`, expect: ADMIN_ONLY },
  { route: "GET /api/apps/:app/webhook-deliveries", method: "GET", url: () => "/api/apps/own/webhook-deliveries", expect: ADMIN_ONLY },
  { route: "GET /api/tokens", method: "GET", url: () => "/api/tokens", expect: ADMIN_ONLY },
  { route: "POST /api/tokens", method: "POST", url: () => "/api/tokens", body: json({ app: "own", scope: "read" }), headers: JSON_TYPE, expect: [401, 401, 201, 403, 403, 403, 403, 401] },
  { route: "DELETE /api/tokens/:id", method: "DELETE", url: (w) => `/api/tokens/${w.ids.spare}`, expect: ADMIN_ONLY },
  { route: "GET /metrics", method: "GET", url: () => "/metrics", expect: ADMIN_ONLY },
  { route: "GET /api/engines", method: "GET", url: () => "/api/engines", expect: ADMIN_ONLY },
  { route: "DELETE /api/apps/:app", method: "DELETE", url: () => "/api/apps/own", expect: ADMIN_ONLY, adminLast: true },
  {
    route: "git: GET info/refs?service=git-receive-pack",
    method: "GET",
    url: () => "/own.git/info/refs?service=git-receive-pack",
    git: true,
    expect: [401, 401, 200, 200, 403, 403, 403, 401],
  },
  { route: "git: GET info/refs?service=git-upload-pack", method: "GET", url: () => "/own.git/info/refs?service=git-upload-pack", git: true, expect: READ },
  {
    route: "git: POST git-receive-pack",
    method: "POST",
    url: () => "/own.git/git-receive-pack",
    // The probe git sends before a large push: an empty command list.
    body: () => Buffer.from("0000"),
    headers: { "Content-Type": "application/x-git-receive-pack-request" },
    git: true,
    expect: [401, 401, 200, 200, 403, 403, 403, 401],
  },
  {
    route: "git: POST git-upload-pack",
    method: "POST",
    url: () => "/own.git/git-upload-pack",
    body: (w) => Buffer.concat([writePktLine(`want ${w.head} ofs-delta\n`), Buffer.from("0000"), writePktLine("done\n")]),
    headers: { "Content-Type": "application/x-git-upload-pack-request" },
    git: true,
    expect: READ,
  },
];

describe("every API route and git endpoint against every principal", () => {
  let world: World;
  beforeAll(async () => {
    world = await makeWorld();
  });
  afterAll(async () => {
    await world.close();
  });

  it("covers every route of the access table", () => {
    const apiRoutes = ROWS.filter((r) => !r.git && !r.public).map((r) => r.route);
    expect([...apiRoutes].sort()).toEqual(Object.keys(API_ACCESS).sort());
    expect(ROWS.filter((r) => r.public).map((r) => r.route).sort()).toEqual([...PUBLIC_ROUTES].sort());
  });

  it("answers each cell with its status: 401 with a Basic challenge for no, a wrong or a revoked token, 403 FORBIDDEN for a token without the right", async () => {
    expect(await runMatrix(world, ROWS, "bearer")).toEqual([]);
  });
});

/** Runs every cell of `rows` (the admin's world-changing cells last); the mismatches. */
async function runMatrix(world: World, rows: readonly Row[], mode: "bearer" | "cookie"): Promise<string[]> {
  const cells = rows.flatMap((row) => PRINCIPALS.map((who, i) => ({ row, who, i })));
  const ordered = [...cells.filter((c) => !(c.row.adminLast && c.who === "admin")), ...cells.filter((c) => c.row.adminLast && c.who === "admin")];
  const mismatches: string[] = [];
  for (const [n, { row, who, i }] of ordered.entries()) {
    const headers = { ...row.headers, ...(row.bare ? {} : credentials(world, who, row.git ? "basic" : mode)) };
    const r = await request(world.port, row.method, row.url(world), headers, row.body?.(world, n, who));
    const want = row.expect[i]!;
    if (r.status !== want) mismatches.push(`${row.route} as ${who}: ${r.status}, expected ${want}: ${r.body.slice(0, 200)}`);
    // The Basic challenge is for clients that can answer it; a browser would pop up its own dialog over the dashboard.
    const challenge = mode === "bearer" || who === "none" || row.git === true;
    if (want === 401 && !row.public && (r.headers["www-authenticate"] === 'Basic realm="slugforge"') !== challenge) {
      mismatches.push(`${row.route} as ${who}: 401 ${challenge ? "without" : "with"} the Basic challenge`);
    }
    if (want === 403 && !r.body.includes("FORBIDDEN")) mismatches.push(`${row.route} as ${who}: 403 without FORBIDDEN: ${r.body}`);
  }
  return mismatches;
}

describe("the same table with the dashboard's session cookie instead of a token", () => {
  let world: World;
  beforeAll(async () => {
    world = await makeWorld();
  });
  afterAll(async () => {
    await world.close();
  });

  it("answers every API route and public route as the token would (a session ends with its token's revocation)", async () => {
    expect(await runMatrix(world, ROWS.filter((r) => !r.git), "cookie")).toEqual([]);
  });

  it("refuses every change made with the cookie from another site, or from nowhere said; Bearer calls and git are as they were", async () => {
    // The table above deleted the app: a world of its own.
    const world = await makeWorld();
    try {
      const admin = world.cookies.admin;
      const changes = ROWS.filter((r) => !r.git && !r.public && r.method !== "GET");
      expect(changes.length).toBeGreaterThanOrEqual(6);
      for (const row of changes) {
        const elsewhere: Record<string, string>[] = [{ Origin: "http://evil.example" }, { "Sec-Fetch-Site": "cross-site" }, { "Sec-Fetch-Site": "same-site" }, {}];
        for (const from of elsewhere) {
          const r = await request(world.port, row.method, row.url(world), { ...row.headers, Cookie: admin, ...from }, row.body?.(world, 0, "admin"));
          expect([r.status, r.body.includes("CROSS_SITE_REQUEST")], `${row.route} ${JSON.stringify(from)}`).toEqual([403, true]);
        }
      }
      expect(await world.store.getApp("own")).toBeDefined();
      expect(await world.store.getConfigVars("own")).toEqual({ SECRET: SECRET_VALUE });
      // Without the cookie, where a request comes from is not the question: a token is no ambient credential.
      const bearer = await request(world.port, "PATCH", "/api/apps/own/config-vars", { ...JSON_TYPE, Origin: "http://evil.example", Authorization: `Bearer ${ADMIN_TOKEN}` }, JSON.stringify({ MODE: "x" }));
      expect(bearer.status).toBe(200);
      // git takes Basic credentials only; a session cookie is nothing to it.
      const git = await request(world.port, "GET", "/own.git/info/refs?service=git-upload-pack", { Cookie: admin });
      expect(git.status).toBe(401);
    } finally {
      await world.close();
    }
  });
});

describe("what scoped tokens see and what is recorded", () => {
  let world: World;
  let work: string;
  beforeAll(async () => {
    world = await makeWorld();
    work = await dirs.make("sf-matrix-push-");
    await world.git.initRepo(work);
  });
  afterAll(async () => {
    await world.close();
    await dirs.cleanup();
  });

  const url = (app: string, token: string): string => `http://git:${token}@127.0.0.1:${world.port}/${app}.git`;
  const call = async <T>(who: Exclude<PrincipalName, "none">, method: string, p: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const headers = { ...credentials(world, who, "bearer"), ...(body === undefined ? {} : JSON_TYPE) };
    const r = await request(world.port, method, p, headers, body === undefined ? undefined : JSON.stringify(body));
    return { status: r.status, body: JSON.parse(r.body) as T };
  };
  const activity = async (app = "own") => (await call<ActivityRecord[]>("admin", "GET", `/api/apps/${app}/activity`)).body;

  it("a deploy token pushes to its app and the build, release and activity name it; a read token or another app's token cannot push", async () => {
    const head = await world.git.commit(work, "app.txt", "deployed by a token\n", "token push");
    const push = await world.git.run(["push", "--force", url("own", world.tokens.deployOwn), "HEAD:main"], work);
    expect(push.code, push.stderr).toBe(0);
    expect(world.fake.builds.at(-1)!.request).toMatchObject({ app: "own", commit: head, actor: world.ids.deployOwn });
    const [build] = (await call<{ actor: string; commit: string }[]>("deployOwn", "GET", "/api/apps/own/builds")).body;
    expect(build).toMatchObject({ commit: head, actor: world.ids.deployOwn });
    const [release, push1] = await activity();
    expect(release).toMatchObject({ actor: world.ids.deployOwn, action: "release", detail: expect.stringMatching(/^v3 from build /) });
    expect(push1).toMatchObject({ actor: world.ids.deployOwn, action: "push", detail: expect.stringContaining(head.slice(0, 7)) });

    await world.git.commit(work, "app.txt", "not allowed\n", "refused");
    for (const token of [world.tokens.readOwn, world.tokens.deployOther]) {
      const refused = await world.git.run(["push", url("own", token), "HEAD:main"], work);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain("remote: FORBIDDEN: token");
    }
    const revoked = await world.git.run(["push", url("own", world.tokens.revoked), "HEAD:main"], work);
    expect(revoked.stderr).toContain("Authentication failed");
    const fetched = await world.git.run(["fetch", url("own", world.tokens.readOwn), "main"], work);
    expect(fetched.code, fetched.stderr).toBe(0);
    expect(world.fake.builds).toHaveLength(2);
  });

  it("only the admin's first push creates an app", async () => {
    const byToken = await world.git.run(["push", url("brand-new", world.tokens.deployOther), "HEAD:main"], work);
    expect(byToken.code).not.toBe(0);
    expect((await call("admin", "GET", "/api/apps/brand-new")).status).toBe(404);
    const byAdmin = await world.git.run(["push", url("brand-new", ADMIN_TOKEN), "HEAD:main"], work);
    expect(byAdmin.code, byAdmin.stderr).toBe(0);
    expect((await activity("brand-new")).map((a) => [a.actor, a.action])).toEqual([
      ["admin", "release"],
      ["admin", "push"],
      ["admin", "app.create"],
    ]);
  });

  it("scoped tokens see only their app, releases with config var names but no values, and never the config", async () => {
    for (const who of ["deployOwn", "readOwn"] as const) {
      expect((await call<{ name: string }[]>(who, "GET", "/api/apps")).body.map((a) => a.name)).toEqual(["own"]);
      const releases = await call<Record<string, unknown>[]>(who, "GET", "/api/apps/own/releases");
      expect(JSON.stringify(releases.body)).not.toContain(SECRET_VALUE);
      expect(releases.body.find((r) => r.version === 2)).toMatchObject({ configVars: ["SECRET"] });
      expect(releases.body.every((r) => !("config" in r))).toBe(true);
    }
    expect((await call<unknown[]>("readOther", "GET", "/api/apps")).body).toEqual([{ name: "other", createdAt: expect.any(String) }]);
    const admins = await call<{ config: Record<string, string> }[]>("admin", "GET", "/api/apps/own/releases");
    expect(admins.body.at(-1)!.config).toEqual({});
    expect(admins.body.find((r) => r.config.SECRET)!.config.SECRET).toBe(SECRET_VALUE);
  });

  it("config, rollback and delete are recorded under who made them; the activity outlives the app, its tokens do not", async () => {
    expect((await call("admin", "PATCH", "/api/apps/own/config-vars", { MODE: "x", SECRET: null })).status).toBe(200);
    const rolled = await call<Record<string, unknown>>("deployOwn", "POST", "/api/apps/own/releases", { release: "v2" });
    expect(rolled.status).toBe(201);
    expect(JSON.stringify(rolled.body)).not.toContain(SECRET_VALUE);
    const [rollback, config] = await activity();
    expect(rollback).toMatchObject({ actor: world.ids.deployOwn, action: "rollback", detail: `to v2: release v${String(rolled.body.version)}` });
    expect(config).toMatchObject({ actor: "admin", action: "config", detail: expect.stringMatching(/^set MODE; unset SECRET; release v\d+$/) });
    expect(JSON.stringify(await activity())).not.toContain(SECRET_VALUE);

    const used = (await call<TokenRecord[]>("admin", "GET", "/api/tokens?app=own")).body;
    expect(used.find((t) => t.id === world.ids.deployOwn)!.lastUsedAt).not.toBeNull();
    expect(used.find((t) => t.id === world.ids.spare)!.lastUsedAt).toBeNull();

    expect((await call("admin", "DELETE", "/api/apps/own")).status).toBe(200);
    expect((await activity())[0]).toMatchObject({ actor: "admin", action: "app.delete" });
    expect((await call<TokenRecord[]>("admin", "GET", "/api/tokens?app=own")).body).toEqual([]);
    expect((await request(world.port, "GET", "/api/apps", { Authorization: `Bearer ${world.tokens.deployOwn}` })).status).toBe(401);

    // A new app with the old name: its tokens see its own activity only; the admin sees it all.
    expect((await call("admin", "POST", "/api/apps", { name: "own" })).status).toBe(201);
    const fresh = await call<{ token: string }>("admin", "POST", "/api/tokens", { app: "own", scope: "read" });
    const seen = await request(world.port, "GET", "/api/apps/own/activity", { Authorization: `Bearer ${fresh.body.token}` });
    expect((JSON.parse(seen.body) as ActivityRecord[]).map((a) => a.action)).toEqual(["token.create", "app.create"]);
    expect((await activity()).length).toBeGreaterThan(6);
  });

  it("token management refuses a missing app, a bad scope and an unknown id clearly", async () => {
    const missing = await call<{ id: string }>("admin", "POST", "/api/tokens", { app: "ghost", scope: "read" });
    expect([missing.status, missing.body.id]).toEqual([404, "APP_NOT_FOUND"]);
    const scope = await call<{ id: string; message: string }>("admin", "POST", "/api/tokens", { app: "other", scope: "admin" });
    expect([scope.status, scope.body.id]).toEqual([400, "BAD_REQUEST"]);
    expect(scope.body.message).toContain("deploy, read");
    expect((await call<{ id: string }>("admin", "POST", "/api/tokens", { scope: "read" })).status).toBe(400);
    expect((await call<{ id: string }>("admin", "DELETE", "/api/tokens/000000000000")).body.id).toBe("NOT_FOUND");
    const made = await call<{ id: string; token: string; secretSha256?: string }>("admin", "POST", "/api/tokens", { app: "other", scope: "deploy" });
    expect(made.body.secretSha256).toBeUndefined();
    expect(JSON.stringify((await call("admin", "GET", "/api/tokens")).body)).not.toContain(made.body.token.slice(17));
  });
});
