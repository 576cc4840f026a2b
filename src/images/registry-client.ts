import http from "node:http";
import https from "node:https";
import type { Readable } from "node:stream";
import type { RegistrySetting } from "../config/parse-config.js";
import { SlugforgeError } from "../errors.js";

/** A blob to send: its digest and size, and how to read it (opened only when the registry lacks it). */
export interface Blob {
  readonly digest: string;
  readonly size: number;
  open(): Promise<Readable> | Readable;
}

export type BlobOutcome = "present" | "mounted" | "uploaded";

/** The registry HTTP API v2, as much of it as pushing an image needs. */
export interface RegistryClient {
  /** `http://host:port`, for messages. */
  readonly base: string;
  /** Resolves when the registry answers the API's base (`GET /v2/`): before anything is prepared for it. */
  ping(): Promise<void>;
  /**
   * Makes sure the repository has the blob: already there (HEAD), mounted from `from` (another
   * repository of the same registry that has it), or uploaded in one PUT.
   */
  pushBlob(repository: string, blob: Blob, from?: string): Promise<BlobOutcome>;
  /** Puts a manifest under a tag; resolves with the digest the registry gives it. */
  putManifest(repository: string, tag: string, mediaType: string, bytes: Buffer): Promise<string>;
}

interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

/**
 * Talks to the registry with node's own HTTP client. Every request fails with
 * REGISTRY_UNAVAILABLE when the registry cannot be reached, stays silent for `timeoutMs`
 * (connecting, answering, or taking an upload's bytes), or answers with a status the API does
 * not give for success; the message says which, with the registry's own error text.
 */
export function createRegistryClient(registry: RegistrySetting, options: { timeoutMs: number; signal?: AbortSignal }): RegistryClient {
  const base = `${registry.scheme}://${registry.host}`;
  const unavailable = (what: string, detail: string, cause?: unknown): SlugforgeError =>
    new SlugforgeError("REGISTRY_UNAVAILABLE", `the registry at ${base} ${detail} (${what})`, { cause });

  const send = (what: string, method: string, url: URL, headers: Record<string, string> = {}, body?: Buffer | Readable): Promise<Reply> =>
    new Promise<Reply>((resolve, reject) => {
      const client = url.protocol === "https:" ? https : http;
      const req = client.request(url, { method, headers, signal: options.signal, timeout: options.timeoutMs });
      req.on("timeout", () => req.destroy(unavailable(what, `did not answer within ${Math.round(options.timeoutMs / 1000)} s`)));
      req.on("error", (err) => reject(err instanceof SlugforgeError ? err : unavailable(what, `does not answer: ${(err as Error).message}`, err)));
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", (err) => reject(unavailable(what, `broke off its answer: ${err.message}`, err)));
      });
      if (body === undefined || Buffer.isBuffer(body)) {
        req.end(body);
        return;
      }
      body.on("error", (err) => req.destroy(err));
      body.pipe(req);
    });

  const expect = (what: string, reply: Reply, ...statuses: number[]): Reply => {
    if (statuses.includes(reply.status)) return reply;
    throw unavailable(what, `refused it: HTTP ${reply.status}${errorText(reply.body)}`);
  };
  const url = (p: string): URL => new URL(p, base);
  const blobsOf = (repository: string): string => `/v2/${repository}/blobs`;

  return {
    base,
    async ping() {
      // 401 is an answer too (a registry that wants credentials says so on each request).
      expect("GET /v2/", await send("GET /v2/", "GET", url("/v2/")), 200, 401);
    },
    async pushBlob(repository, blob, from) {
      const what = `blob ${blob.digest.slice(0, 19)} of ${repository}`;
      const head = await send(what, "HEAD", url(`${blobsOf(repository)}/${blob.digest}`));
      if (head.status === 200) return "present";
      expect(what, head, 404);
      const start = from
        ? url(`${blobsOf(repository)}/uploads/?mount=${encodeURIComponent(blob.digest)}&from=${encodeURIComponent(from)}`)
        : url(`${blobsOf(repository)}/uploads/`);
      const started = expect(what, await send(what, "POST", start, { "Content-Length": "0" }), 201, 202);
      // 201: mounted from the other repository; 202: an upload was opened instead.
      if (started.status === 201) return "mounted";
      const location = started.headers.location;
      if (!location) throw unavailable(what, "opened an upload without saying where (no Location)");
      const put = new URL(location, base);
      put.searchParams.set("digest", blob.digest);
      const bytes = await blob.open();
      expect(what, await send(what, "PUT", put, { "Content-Type": "application/octet-stream", "Content-Length": String(blob.size) }, bytes), 201);
      return "uploaded";
    },
    async putManifest(repository, tag, mediaType, bytes) {
      const what = `manifest ${repository}:${tag}`;
      const reply = expect(what, await send(what, "PUT", url(`/v2/${repository}/manifests/${tag}`), { "Content-Type": mediaType, "Content-Length": String(bytes.length) }, bytes), 201);
      const digest = reply.headers["docker-content-digest"];
      return typeof digest === "string" ? digest : "";
    },
  };
}

/** The registry's own words: `{"errors": [{"code", "message"}]}`, as `: CODE message`. */
function errorText(body: Buffer): string {
  try {
    const parsed = JSON.parse(body.toString("utf8")) as { errors?: { code?: string; message?: string }[] };
    const first = parsed.errors?.[0];
    return first ? `: ${[first.code, first.message].filter(Boolean).join(" ")}` : "";
  } catch {
    const text = body.toString("utf8").trim().slice(0, 200);
    return text ? `: ${text}` : "";
  }
}
