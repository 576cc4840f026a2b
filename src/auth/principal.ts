import type { Logger } from "../log.js";
import type { MetadataStore, TokenScope } from "../store/types.js";
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
  resolve(header: string | undefined, schemes: CredentialSchemes): Principal | undefined;
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
  return {
    resolve(header, schemes) {
      const given = presentedToken(header, schemes);
      if (given === undefined) return undefined;
      if (deps.adminToken.length > 0 && sameSecret(given, deps.adminToken)) return ADMIN;
      const parsed = parseScopedToken(given);
      const stored = parsed && deps.tokens?.findToken(parsed.id);
      if (!parsed || !stored || stored.revokedAt !== null || !secretMatches(parsed.secret, stored.secretSha256)) return undefined;
      try {
        deps.tokens!.touchToken(stored.id);
      } catch (err) {
        // Last use is a convenience for the operator; a full disk must not turn away a valid token.
        log.warn({ err, token: stored.id }, "could not note a token's last use");
      }
      return { kind: "token", id: stored.id, app: stored.app, scope: stored.scope };
    },
  };
}
