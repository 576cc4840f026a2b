/**
 * The dashboard's session cookie: HttpOnly (page scripts never see it), SameSite=Strict (no other
 * site's page makes the browser send it), Path=/ (the pages and the API), Secure when the dashboard
 * is served over https. No Domain: only this host gets it back.
 */
export const SESSION_COOKIE = "slugforge_session";

const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

/** The session id in a Cookie header; undefined when there is none, or what is there is not one of ours. */
export function sessionIdOf(cookieHeader: string | undefined): string | undefined {
  if (!cookieHeader) return undefined;
  for (const pair of cookieHeader.split(";")) {
    const eq = pair.indexOf("=");
    if (eq === -1 || pair.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    const value = pair.slice(eq + 1).trim();
    if (SESSION_ID.test(value)) return value;
  }
  return undefined;
}

export interface CookieOptions {
  /** Served over https (TLS here, or a proxy's X-Forwarded-Proto): the cookie is marked Secure. */
  readonly secure: boolean;
}

/** Set-Cookie for a new session, expiring with it. */
export function sessionCookie(id: string, maxAgeMs: number, { secure }: CookieOptions): string {
  return attributes(`${SESSION_COOKIE}=${id}`, Math.max(0, Math.ceil(maxAgeMs / 1000)), secure);
}

/** Set-Cookie that removes the session cookie (sign-out). */
export function clearedSessionCookie({ secure }: CookieOptions): string {
  return attributes(`${SESSION_COOKIE}=`, 0, secure);
}

function attributes(pair: string, maxAgeS: number, secure: boolean): string {
  return `${pair}; Path=/; Max-Age=${maxAgeS}; HttpOnly; SameSite=Strict${secure ? "; Secure" : ""}`;
}
