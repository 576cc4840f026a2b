import { isTokenScope, mintScopedToken, TOKEN_SCOPES } from "../auth/scoped-token.js";
import type { ActivityAction, ActivityEntry, MetadataStore, MetadataTx } from "../store/types.js";
import { fail, readJson, sendJson } from "./http-json.js";
import type { createRouter, RouteContext } from "./router.js";

export interface TokenRouteDeps {
  readonly store: MetadataStore;
  /** Runs a change and records it in the app's activity (api-handler's). */
  readonly change: <T>(ctx: RouteContext, app: string, action: ActivityAction, detail: ActivityEntry<T>["detail"], apply: (tx: MetadataTx) => Promise<T>) => Promise<T>;
}

/**
 * The admin's management of scoped tokens (API_ACCESS makes them admin-only). The token itself is
 * in the creation's answer and nowhere else: the store keeps its secret's hash.
 */
export function addTokenRoutes(router: ReturnType<typeof createRouter>, { store, change }: TokenRouteDeps): void {
  router.add("GET", "/api/tokens", async (ctx) => {
    const app = ctx.query.get("app") ?? undefined;
    sendJson(ctx.res, 200, await store.listTokens(app));
  });
  router.add("POST", "/api/tokens", async (ctx) => {
    const body = (await readJson(ctx.req)) as { app?: unknown; scope?: unknown };
    if (typeof body !== "object" || body === null || typeof body.app !== "string") fail("BAD_REQUEST", 'name the app and the scope: {"app": "web", "scope": "deploy"}');
    const { app, scope } = body as { app: string; scope?: unknown };
    if (!isTokenScope(scope)) fail("BAD_REQUEST", `the scope must be one of ${TOKEN_SCOPES.join(", ")}, not ${JSON.stringify(scope ?? null)}`);
    if (!(await store.getApp(app))) fail("APP_NOT_FOUND", `no app named "${app}"`);
    const minted = mintScopedToken();
    const record = await change(ctx, app, "token.create", `${scope} token ${minted.id}`, (tx) =>
      tx.createToken({ id: minted.id, app, scope, secretSha256: minted.secretSha256 }),
    );
    sendJson(ctx.res, 201, { ...record, token: minted.token });
  });
  router.add("DELETE", "/api/tokens/:id", async (ctx) => {
    const id = ctx.params.id!;
    const token = await store.findToken(id);
    if (!token) fail("NOT_FOUND", `no token with id ${id}; \`slugforge tokens\` lists them`);
    // Revoking twice changes nothing and records nothing.
    const revoked = token.revokedAt !== null ? await store.revokeToken(id) : await change(ctx, token.app, "token.revoke", `${token.scope} token ${id}`, (tx) => tx.revokeToken(id));
    sendJson(ctx.res, 200, { ...revoked, revoked: true });
  });
}
