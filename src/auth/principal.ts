import type { Logger } from "../log.js";
import type { MetadataStore, StoredToken, TokenScope } from "../store/types.js";
import { parseScopedToken, secretMatches } from "./scoped-token.js";
import { presentedToken, sameSecret, type CredentialSchemes } from "./token-auth.js";

/** Who is asking: the operator's admin token, or a scoped token of one app. */
export type Principal =
  | { readonly kind: "admin" }
  | { readonly kind: "token"; readonly id: string; readonly app: string; readonly scope: TokenScope };

export const ADMIN: Principal = Object.freeze({ kind: "admin" });

/** How build records and the activity log name a principal: `admin` or the token's id. */
export function actorOf(principal: Principal): string {
  return principal.kind === "admin" ? "admin" : principal.id;
}

export interface Authenticator {
  /** The principal behind an Authorization header; undefined for none, a wrong, unknown or revoked token. */
  resolve(header: string | undefined, schemes: CredentialSchemes): Promise<Principal | undefined>;
  /** The principal behind a token as given (the dashboard's sign-in form); undefined as above. */
  resolveToken(token: string): Promise<Principal | undefined>;
  /**
   * A principal found earlier, as it is now (a dashboard session's, on each request): a scoped
   * token revoked or deleted since (its app deleted) is undefined; the admin stays the admin.
   */
  recheck(principal: Principal): Promise<Principal | undefined>;
}

export interface AuthenticatorDeps {
  readonly adminToken: string;
  /** Where scoped tokens are kept; without it only the admin token is known. */
  readonly tokens?: Pick<MetadataStore, "findToken" | "touchToken">;
  readonly log: Logger;
}

/** The one place that turns a request's credentials into a principal, for the API and git alike. */
export function createAuthenticator(deps: AuthenticatorDeps): Authenticator {
  const log = deps.log.child({ component: "auth" });
  /** A stored token that still authenticates, its last use noted. */
  const current = async (id: string, matches: (stored: StoredToken) => boolean): Promise<Principal | undefined> => {
    const stored = await deps.tokens?.findToken(id);
    if (!stored || stored.revokedAt !== null || !matches(stored)) return undefined;
    try {
      await deps.tokens!.touchToken(stored.id);
    } catch (err) {
      // Last use is a convenience for the operator; a full disk must not turn away a valid token.
      log.warn({ err, token: stored.id }, "could not note a token's last use");
    }
    return { kind: "token", id: stored.id, app: stored.app, scope: stored.scope };
  };
  const resolveToken = async (given: string): Promise<Principal | undefined> => {
    if (deps.adminToken.length > 0 && sameSecret(given, deps.adminToken)) return ADMIN;
    const parsed = parseScopedToken(given);
    return parsed && current(parsed.id, (stored) => secretMatches(parsed.secret, stored.secretSha256));
  };
  return {
    async resolve(header, schemes) {
      const given = presentedToken(header, schemes);
      return given === undefined ? undefined : resolveToken(given);
    },
    resolveToken: async (token) => (token.length > 0 ? resolveToken(token) : undefined),
    async recheck(principal) {
      if (principal.kind === "admin") return ADMIN;
      // The scope and app come from the record, as at sign-in: a record is never re-scoped, so these agree.
      return current(principal.id, (stored) => stored.app === principal.app && stored.scope === principal.scope);
    },
  };
}
