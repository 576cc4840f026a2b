import type http from "node:http";
import type { Authenticator, Principal } from "./principal.js";
import { sessionIdOf } from "./session-cookie.js";
import type { Sessions } from "./sessions.js";

/**
 * Which credential a request presented: an Authorization header (Bearer or Basic: scripts, the
 * CLI), the dashboard's session cookie, or none. The header wins when both are there.
 */
export type Credential = "authorization" | "session" | "none";

export interface RequestPrincipal {
  readonly via: Credential;
  /** Undefined when the credential does not authenticate (or there is none). */
  readonly principal: Principal | undefined;
}

/** The principal of an API request, from its Authorization header or its session cookie. */
export async function requestPrincipal(headers: http.IncomingHttpHeaders, auth: Authenticator, sessions: Sessions | undefined): Promise<RequestPrincipal> {
  if (headers.authorization !== undefined) return { via: "authorization", principal: await auth.resolve(headers.authorization, "basic-or-bearer") };
  const id = sessionIdOf(headers.cookie);
  if (sessions && id !== undefined) return { via: "session", principal: (await sessions.find(id))?.principal };
  return { via: "none", principal: undefined };
}

/**
 * Whether a 401 should carry `WWW-Authenticate: Basic`. Not for the dashboard: a browser answers
 * that challenge with its own password dialog, over the page. So not when the request came with
 * the session cookie, nor when a page's script sent it (Sec-Fetch-Dest: empty) without one (its
 * session ran out); every other client (curl, the CLI) gets it as before.
 */
export function wantsBasicChallenge(headers: http.IncomingHttpHeaders, via: Credential): boolean {
  return via !== "session" && headers["sec-fetch-dest"] !== "empty";
}
