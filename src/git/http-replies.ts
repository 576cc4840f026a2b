import type http from "node:http";
import { ERROR_CODES, errorLine, type ErrorCode, type SlugforgeError } from "../errors.js";

/** Smart-HTTP answers must never be cached by anything between git and us. */
export const NO_CACHE_HEADERS = {
  "Cache-Control": "no-cache, max-age=0, must-revalidate",
  Pragma: "no-cache",
  Expires: "Fri, 01 Jan 1980 00:00:00 GMT",
} as const;

/** A plain-text refusal; git shows the body as `remote: ...` for 403 and 404. */
function replyText(res: http.ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8", ...NO_CACHE_HEADERS, ...headers });
  res.end(`${text}\n`);
}

export interface ReplyErrorOptions {
  /** When git needs another status than the code's own (404 for a name that can be no repo, 405, 408, 415). */
  readonly status?: number;
  readonly headers?: Record<string, string>;
}

/** A refusal as `CODE: message` (the code's hint when there is no message), with the code's status. */
export function replyError(res: http.ServerResponse, code: ErrorCode, message?: string, options: ReplyErrorOptions = {}): void {
  replyText(res, options.status ?? ERROR_CODES[code].status, errorLine(code, message), options.headers);
}

/** A SlugforgeError as `CODE: message hint`, with its status. */
export function replyFailure(res: http.ServerResponse, err: SlugforgeError): void {
  replyError(res, err.code, `${err.message} ${err.hint}`);
}

export function replyUnauthorized(res: http.ServerResponse): void {
  replyError(res, "UNAUTHORIZED", "use the API token as the password, e.g. http://git:TOKEN@host:port/APP.git", {
    headers: { "WWW-Authenticate": 'Basic realm="slugforge"' },
  });
}
