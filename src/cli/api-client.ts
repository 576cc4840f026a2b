import { Readable } from "node:stream";

/** A failed API call: the server's error id and message, and the HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly id: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export interface ApiClient {
  get<T>(path: string): Promise<T>;
  send<T>(method: "POST" | "PATCH" | "DELETE", path: string, body?: unknown): Promise<T>;
  /** As send, with the HTTP status (a 202 says the work goes on in the background). */
  sendWithStatus<T>(method: "POST" | "PATCH" | "DELETE", path: string, body?: unknown): Promise<{ status: number; body: T }>;
  /** A streaming GET (build output, slug blobs). */
  stream(path: string): Promise<{ body: Readable; headers: Headers }>;
}

/** Talks to a slugforge server (SLUGFORGE_URL) with its token (SLUGFORGE_TOKEN). */
export function createApiClient(baseUrl: string, token: string): ApiClient {
  const base = baseUrl.replace(/\/+$/, "");
  const request = async (method: string, path: string, body?: unknown): Promise<Response> => {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new ApiError(0, "UNREACHABLE", `cannot reach the slugforge server at ${base} (${(err as Error).cause ?? (err as Error).message}); start it with \`slugforge serve\` or set SLUGFORGE_URL`);
    }
    if (!res.ok) {
      const text = await res.text();
      let parsed: { id?: string; message?: string } = {};
      try {
        parsed = JSON.parse(text) as typeof parsed;
      } catch {
        parsed = { message: text.trim() };
      }
      throw new ApiError(res.status, parsed.id ?? `HTTP_${res.status}`, parsed.message ?? `HTTP ${res.status}`);
    }
    return res;
  };
  return {
    async get<T>(path: string) {
      return (await (await request("GET", path)).json()) as T;
    },
    async send<T>(method: "POST" | "PATCH" | "DELETE", path: string, body?: unknown) {
      return (await (await request(method, path, body)).json()) as T;
    },
    async sendWithStatus<T>(method: "POST" | "PATCH" | "DELETE", path: string, body?: unknown) {
      const res = await request(method, path, body);
      return { status: res.status, body: (await res.json()) as T };
    },
    async stream(path) {
      const res = await request("GET", path);
      if (!res.body) throw new ApiError(res.status, "EMPTY", "the server sent no body");
      return { body: Readable.fromWeb(res.body as import("node:stream/web").ReadableStream), headers: res.headers };
    },
  };
}
