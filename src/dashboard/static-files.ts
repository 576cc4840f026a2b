import { readdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type http from "node:http";
import path from "node:path";
import { PAGE_HEADERS } from "./page-headers.js";

const TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

/** Names an asset may have: flat, lower-case, one of the types above (index.html is served at `/` only). */
const ASSET_NAME = /^[a-z0-9][a-z0-9-]*\.(js|css|svg)$/;

export interface StaticFiles {
  /** The page, at `/`. */
  page(res: http.ServerResponse): Promise<void>;
  /** Answers for `/assets/<name>`; false when there is no such asset. */
  asset(name: string, res: http.ServerResponse): Promise<boolean>;
}

/**
 * The dashboard's files, from a folder of the repo (`dashboard/`, beside src/ and dist/). Which
 * names exist is read once, at start: a request can only ever name one of them, so no path from a
 * URL reaches the file system. Their bytes are read per request (a few KB), so an edited file
 * shows on reload.
 */
export function staticFiles(dir: string): StaticFiles {
  let found: string[];
  try {
    found = readdirSync(dir);
  } catch (err) {
    throw new Error(`the dashboard's files are not in ${dir}: ${(err as Error).message}`, { cause: err });
  }
  if (!found.includes("index.html")) throw new Error(`the dashboard's page is not in ${dir} (no index.html)`);
  const known = new Set(found.filter((n) => ASSET_NAME.test(n)));
  const send = async (file: string, res: http.ServerResponse, cache: string): Promise<void> => {
    const body = await readFile(path.join(dir, file));
    res.writeHead(200, { ...PAGE_HEADERS, "Content-Type": TYPES[path.extname(file)]!, "Content-Length": String(body.length), "Cache-Control": cache });
    res.end(body);
  };
  return {
    page: (res) => send("index.html", res, "no-store"),
    async asset(name, res) {
      if (!known.has(name)) return false;
      // Revalidated on each load: the page and its scripts must not come from two versions.
      await send(name, res, "no-cache");
      return true;
    },
  };
}
