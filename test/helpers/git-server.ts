import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { createApp } from "../../src/app.js";
import { createAuthenticator } from "../../src/auth/principal.js";
import type { Builder } from "../../src/builds/types.js";
import { createGitHandler, type GitHandler } from "../../src/git/git-handler.js";
import { createHookBridge, type HookBridge } from "../../src/git/hook-bridge.js";
import { installHooks } from "../../src/git/hook-shim.js";
import type { RepoMaintenanceOptions } from "../../src/git/repo-maintenance.js";
import { silentLogger, type Logger } from "../../src/log.js";

export const TEST_TOKEN = "test-token-0123456789";

export interface TestGitServer {
  readonly port: number;
  readonly token: string;
  readonly dataDir: string;
  readonly reposDir: string;
  readonly handler: GitHandler;
  readonly bridge: HookBridge;
  /** Apps created by first pushes, in order. */
  readonly created: string[];
  /** Every request the server saw: method, url, whether it carried Authorization, status. */
  readonly requests: { method: string; url: string; auth: boolean; status?: number; contentLength?: string }[];
  /** http://git:<token>@127.0.0.1:<port>/<app>.git */
  url(app: string, token?: string): string;
  close(): Promise<void>;
}

export interface StartGitServerOptions {
  readonly maxPushBytes?: number;
  readonly keepAliveMs?: number;
  readonly maintenance?: RepoMaintenanceOptions;
  readonly bodyIdleMs?: number;
  readonly log?: Logger;
}

/** The git layer as main.ts will assemble it, on 127.0.0.1 port 0, with data in `dataDir`. */
export async function startGitServer(dataDir: string, builder: Builder, options: StartGitServerOptions = {}): Promise<TestGitServer> {
  const log = options.log ?? silentLogger();
  const reposDir = path.join(dataDir, "repos");
  const hooksDir = path.join(dataDir, "hooks");
  await installHooks(hooksDir);
  const bridge = createHookBridge({ socketPath: path.join(dataDir, "hook.sock"), builder, log, keepAliveMs: options.keepAliveMs });
  await bridge.listen();
  const created: string[] = [];
  const handler = createGitHandler({
    reposDir,
    hooksDir,
    auth: createAuthenticator({ adminToken: TEST_TOKEN, log }),
    bridge,
    log,
    maxPushBytes: options.maxPushBytes ?? 64 * 1024 * 1024,
    onAppCreated: (app) => void created.push(app),
    maintenance: options.maintenance,
    bodyIdleMs: options.bodyIdleMs,
  });
  const requests: TestGitServer["requests"] = [];
  const app = createApp({
    log,
    gitHandler: (req: http.IncomingMessage, res: http.ServerResponse) => {
      const entry: TestGitServer["requests"][number] = {
        method: req.method ?? "",
        url: req.url ?? "",
        auth: req.headers.authorization !== undefined,
        contentLength: req.headers["content-length"],
      };
      requests.push(entry);
      res.on("finish", () => (entry.status = res.statusCode));
      return handler.handle(req, res);
    },
    onClose: async () => {
      await handler.close();
      await bridge.close();
    },
  });
  await new Promise<void>((resolve) => app.server.listen(0, "127.0.0.1", () => resolve()));
  const port = (app.server.address() as AddressInfo).port;
  return {
    port,
    token: TEST_TOKEN,
    dataDir,
    reposDir,
    handler,
    bridge,
    created,
    requests,
    url: (name, token = TEST_TOKEN) => `http://git:${token}@127.0.0.1:${port}/${name}.git`,
    close: () => app.close(),
  };
}
