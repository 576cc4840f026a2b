import type http from "node:http";

/** Methods that change nothing: they need no proof that the request came from our own pages. */
export function changesState(method: string | undefined): boolean {
  return method !== "GET" && method !== "HEAD" && method !== "OPTIONS";
}

/**
 * Why a state-changing request that a browser made with the session cookie is refused as
 * cross-site; undefined when it came from a page of this server. SameSite=Strict already keeps the
 * cookie off other sites' requests; this is the second lock (older browsers, a sibling subdomain,
 * a proxy that rewrites cookies). Fetch Metadata first (every current browser sends
 * Sec-Fetch-Site), else the Origin header, which must name this host. A request with neither is
 * refused: a browser that sends the cookie sends one of them.
 */
export function crossSiteRefusal(headers: http.IncomingHttpHeaders): string | undefined {
  const site = headers["sec-fetch-site"];
  if (site !== undefined) return site === "same-origin" ? undefined : `the request came from another site (Sec-Fetch-Site: ${site})`;
  const origin = headers.origin;
  if (origin === undefined) return "the request names no origin (neither Sec-Fetch-Site nor Origin)";
  let host: string;
  try {
    const url = new URL(origin);
    if (url.protocol !== "http:" && url.protocol !== "https:") return `the request came from ${origin}`;
    host = url.host;
  } catch {
    return `the request came from ${origin}`;
  }
  return host === headers.host ? undefined : `the request came from ${origin}, not from this server's pages`;
}

/** Whether the browser reached us over https: TLS on this socket, or a proxy in front that says so. */
export function servedOverHttps(req: http.IncomingMessage): boolean {
  const proto = req.headers["x-forwarded-proto"];
  const first = (Array.isArray(proto) ? proto[0] : proto)?.split(",")[0]?.trim().toLowerCase();
  return first === "https" || ("encrypted" in req.socket && req.socket.encrypted === true);
}
