import type http from "node:http";
import { ERROR_CODES, SlugforgeError, toSlugforgeError, type ErrorCode } from "../errors.js";

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store" });
  res.end(`${text}\n`);
}

/** Errors as `{"id": "<code>", "message": "..."}` with the code's status; ours are not detailed. */
export function sendError(res: http.ServerResponse, err: unknown): void {
  const e = toSlugforgeError(err);
  const message = e.userCaused || e.code !== "INTERNAL" ? `${e.message}. ${e.hint}` : `internal error. ${e.hint}`;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, e.status, { id: e.code, message });
}

export function fail(code: ErrorCode, message: string): never {
  throw new SlugforgeError(code, message);
}

const MAX_JSON_BYTES = 1024 * 1024;

export async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const type = req.headers["content-type"] ?? "";
  if (!/^application\/json\b/i.test(type)) fail("BAD_REQUEST", "send a JSON body with Content-Type: application/json");
  const body = await readBody(req, MAX_JSON_BYTES, "the JSON body is larger than 1 MiB");
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return fail("BAD_REQUEST", "the body is not valid JSON");
  }
}

/** A request's whole body as UTF-8 text; BAD_REQUEST with `tooLarge` once it passes `limit` bytes. */
export async function readBody(req: http.IncomingMessage, limit: number, tooLarge: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) fail("BAD_REQUEST", tooLarge);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

export function statusOf(code: ErrorCode): number {
  return ERROR_CODES[code].status;
}
