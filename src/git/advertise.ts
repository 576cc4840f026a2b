import type http from "node:http";
import { spawnGit } from "../gitcli/git.js";
import type { Logger } from "../log.js";
import type { GitService } from "./app-path.js";
import type { GitChildren } from "./git-children.js";
import { NO_CACHE_HEADERS, replyError } from "./http-replies.js";
import { FLUSH_PKT, writePktLine } from "./pkt-line.js";
import { gitServerConfig } from "./server-config.js";

export interface AdvertiseContext {
  readonly hooksDir: string;
  readonly maxPushBytes: number;
  readonly children: GitChildren;
  readonly log: Logger;
}

/** GET info/refs: the `# service=` preamble, then git's own ref advertisement. */
export function advertiseRefs(
  ctx: AdvertiseContext,
  res: http.ServerResponse,
  service: GitService,
  gitDir: string,
  gitProtocol: string | undefined,
): void {
  const child = spawnGit([service.slice(4), "--stateless-rpc", "--advertise-refs", gitDir], {
    config: gitServerConfig(ctx.hooksDir, ctx.maxPushBytes),
    env: { GIT_PROTOCOL: service === "git-upload-pack" ? gitProtocol : undefined },
  });
  ctx.children.add(child, gitDir, false);
  let started = false;
  let stderr = "";
  const start = (): void => {
    if (started) return;
    started = true;
    res.writeHead(200, { "Content-Type": `application/x-${service}-advertisement`, ...NO_CACHE_HEADERS });
    // Like git http-backend: a v2 answer has no preamble (git accepts it either way).
    if (!(gitProtocol?.includes("version=2") && service === "git-upload-pack")) {
      res.write(Buffer.concat([writePktLine(`# service=${service}\n`), FLUSH_PKT]));
    }
  };
  child.stdin.end();
  child.stdin.on("error", () => undefined);
  child.stderr.on("data", (b: Buffer) => (stderr = (stderr + b.toString("utf8")).slice(-4000)));
  child.stdout.on("data", (chunk: Buffer) => {
    start();
    res.write(chunk);
  });
  child.on("error", (err) => ctx.log.error({ err }, "cannot run git"));
  child.on("close", (code) => {
    void ctx.children.exited(child, gitDir, false, code === 0);
    if (code !== 0 && !started) {
      ctx.log.error({ code, stderr, gitDir }, "git --advertise-refs failed");
      replyError(res, "INTERNAL", "the server could not read the repository.");
      return;
    }
    start();
    res.end();
  });
  res.on("close", () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  });
}
