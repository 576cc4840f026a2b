import http from "node:http";
import { signatureMatches } from "../../src/webhooks/index.js";

/** One POST as the receiver got it. */
export interface Received {
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  readonly deliveryId: string;
  /** How many times this delivery id has come, this one included. */
  readonly nth: number;
  /** Whether X-Slugforge-Signature is the body's HMAC with the path's secret (when the test gave one). */
  readonly signed: boolean | undefined;
}

/** How to answer: a status, never, by closing the connection, or with bytes that are not HTTP. */
export type Answer = number | { readonly status: number; readonly headers: Record<string, string> } | "hang" | "reset" | "garbage";

/**
 * A webhook receiver on 127.0.0.1, port 0: records every POST, answers as each path's rule says
 * (200 by default), and checks signatures the way a receiver should: the raw body's HMAC, compared
 * in constant time.
 */
export async function startReceiver(): Promise<{
  readonly received: Received[];
  url(path: string): string;
  /** The rule for a path, given this delivery's count so far. */
  on(path: string, rule: (r: Received) => Answer, secret?: string): void;
  at(path: string): Received[];
  close(): Promise<void>;
}> {
  const received: Received[] = [];
  const rules = new Map<string, { rule: (r: Received) => Answer; secret?: string }>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = req.url ?? "/";
      const body = Buffer.concat(chunks).toString("utf8");
      const deliveryId = String(req.headers["x-slugforge-delivery"] ?? "");
      const nth = received.filter((r) => r.deliveryId === deliveryId).length + 1;
      const entry = rules.get(path);
      const signature = req.headers["x-slugforge-signature"];
      const signed = entry?.secret === undefined ? undefined : signatureMatches(entry.secret, body, typeof signature === "string" ? signature : undefined);
      const r: Received = { path, headers: req.headers, body, deliveryId, nth, signed };
      received.push(r);
      const answer = entry ? entry.rule(r) : 200;
      if (answer === "hang") return;
      if (answer === "reset") return void req.socket.destroy();
      if (answer === "garbage") {
        req.socket.write("this is not HTTP\r\n\r\n");
        return void req.socket.end();
      }
      const { status, headers } = typeof answer === "number" ? { status: answer, headers: {} } : answer;
      res.writeHead(status, { "Content-Type": "text/plain", ...headers });
      res.end(status < 300 ? "thanks\n" : "not now\n");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    received,
    url: (path) => `http://127.0.0.1:${port}${path}`,
    on: (path, rule, secret) => void rules.set(path, { rule, secret }),
    at: (path) => received.filter((r) => r.path === path),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
