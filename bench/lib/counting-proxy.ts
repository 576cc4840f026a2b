import http from "node:http";
import type { AddressInfo } from "node:net";

/** A loopback HTTP proxy in front of a registry that counts what clients send through it. */
export interface CountingProxy {
  /** `127.0.0.1:<port>`: name this as the registry. */
  readonly host: string;
  /** Request body bytes received so far (blob uploads, manifests), every method. */
  bytes(): number;
  requests(): number;
  close(): Promise<void>;
}

/**
 * Forwards every request to `target` (host:port) unchanged, Host header included, so the
 * registry's upload Locations point back at the proxy and every byte a client uploads passes
 * through here and is counted.
 */
export async function startCountingProxy(target: { readonly port: number }): Promise<CountingProxy> {
  let bytes = 0;
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    req.on("data", (b: Buffer) => (bytes += b.length));
    const upstream = http.request({ host: "127.0.0.1", port: target.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on("error", (err) => res.destroy(err));
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    bytes: () => bytes,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
