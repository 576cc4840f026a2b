import { spawn } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { pipeline } from "node:stream/promises";

export interface HttpBackend {
  /** `http://127.0.0.1:<port>` */
  readonly base: string;
  close(): Promise<void>;
}

/**
 * The receive baseline: git's own `git http-backend` as a CGI program behind the smallest Node
 * http server that can run it (RFC 3875: request metadata in the environment, body on stdin,
 * `Status:` and other headers then the body on stdout). Every repo under `projectRoot` is served
 * and accepts pushes (no auth, no hooks): what git alone costs for a push over HTTP. `gitConfig`
 * settings reach the receive-pack it runs (GIT_CONFIG_COUNT), so it can check objects as
 * slugforge's does (transfer.fsckObjects).
 */
export async function startHttpBackend(projectRoot: string, gitConfig: Record<string, string> = {}): Promise<HttpBackend> {
  const configEnv: NodeJS.ProcessEnv = { GIT_CONFIG_COUNT: String(Object.keys(gitConfig).length) };
  Object.entries(gitConfig).forEach(([k, v], i) => {
    configEnv[`GIT_CONFIG_KEY_${i}`] = k;
    configEnv[`GIT_CONFIG_VALUE_${i}`] = v;
  });
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      GIT_PROJECT_ROOT: projectRoot,
      GIT_HTTP_EXPORT_ALL: "1",
      ...configEnv,
      GATEWAY_INTERFACE: "CGI/1.1",
      SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
      REQUEST_METHOD: req.method ?? "GET",
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.slice(1),
      REMOTE_ADDR: req.socket.remoteAddress ?? "127.0.0.1",
      REMOTE_USER: "bench",
      CONTENT_TYPE: req.headers["content-type"] ?? "",
    };
    // A chunked body has no length: http-backend then reads stdin to its end.
    if (req.headers["content-length"]) env.CONTENT_LENGTH = req.headers["content-length"];
    for (const [name, value] of Object.entries(req.headers)) {
      if (typeof value === "string") env[`HTTP_${name.toUpperCase().replace(/-/g, "_")}`] = value;
    }
    const cgi = spawn("git", ["-c", "http.receivepack=true", "http-backend"], { env, stdio: ["pipe", "pipe", "inherit"] });
    pipeline(req, cgi.stdin).catch(() => cgi.kill());
    let head = Buffer.alloc(0);
    let started = false;
    cgi.stdout.on("data", (chunk: Buffer) => {
      if (started) {
        if (!res.write(chunk)) {
          cgi.stdout.pause();
          res.once("drain", () => cgi.stdout.resume());
        }
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = headerEnd(head);
      if (!end) return;
      started = true;
      let status = 200;
      for (const line of head.subarray(0, end.at).toString("latin1").split(/\r?\n/)) {
        const i = line.indexOf(":");
        if (i <= 0) continue;
        const name = line.slice(0, i).trim();
        const value = line.slice(i + 1).trim();
        if (name.toLowerCase() === "status") status = Number(value.split(" ")[0]);
        else res.setHeader(name, value);
      }
      res.writeHead(status);
      res.write(head.subarray(end.at + end.length));
    });
    cgi.on("close", (code) => {
      if (!started) res.writeHead(code === 0 ? 200 : 500);
      res.end();
    });
  });
  server.requestTimeout = 0;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function headerEnd(buf: Buffer): { at: number; length: number } | undefined {
  const crlf = buf.indexOf("\r\n\r\n");
  const lf = buf.indexOf("\n\n");
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { at: crlf, length: 4 };
  if (lf >= 0) return { at: lf, length: 2 };
  return undefined;
}
