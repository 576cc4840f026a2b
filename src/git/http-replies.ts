import type http from "node:http";

/** Smart-HTTP answers must never be cached by anything between git and us. */
export const NO_CACHE_HEADERS = {
  "Cache-Control": "no-cache, max-age=0, must-revalidate",
  Pragma: "no-cache",
  Expires: "Fri, 01 Jan 1980 00:00:00 GMT",
} as const;

/** A plain-text refusal; git shows the body as `remote: ...` for 403 and 404. */
export function replyText(res: http.ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8", ...NO_CACHE_HEADERS, ...headers });
  res.end(`${text}\n`);
}

export function replyUnauthorized(res: http.ServerResponse): void {
  replyText(res, 401, "UNAUTHORIZED: use the API token as the password, e.g. http://git:TOKEN@host:port/APP.git", {
    "WWW-Authenticate": 'Basic realm="slugforge"',
  });
}
