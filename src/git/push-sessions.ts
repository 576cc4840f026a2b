import { randomBytes } from "node:crypto";
import { sameSecret } from "../auth/token-auth.js";
import { HOOK_ENV } from "./hook-protocol.js";

/**
 * One receive-pack run. The HTTP handler opens it before spawning git and closes it when git
 * exits; the per-push token travels to the hook in git's environment, so the bridge can tell
 * which push (and app, and repo) a hook call belongs to and refuse anyone else on the socket.
 */
export interface PushSession {
  readonly id: string;
  readonly token: string;
  readonly app: string;
  readonly gitDir: string;
  /** Who pushed: `admin` or a scoped token's id. */
  readonly actor: string;
  /** Aborted when the pusher went away or the server stops: the build is cancelled. */
  readonly signal: AbortSignal;
  /** Resolves when receive-pack has exited (the ref update, if any, is done). */
  readonly closed: Promise<void>;
  readonly isClosed: boolean;
  abort(reason: string): void;
  close(): void;
  /** Variables the hook needs, for receive-pack's environment. */
  hookEnv(socketPath: string): Record<string, string>;
}

export class PushSessions {
  private readonly byToken = new Map<string, PushSession>();

  open(app: string, gitDir: string, actor: string): PushSession {
    const token = randomBytes(24).toString("base64url");
    const controller = new AbortController();
    let markClosed!: () => void;
    const closed = new Promise<void>((resolve) => (markClosed = resolve));
    let isClosed = false;
    const byToken = this.byToken;
    const session: PushSession = {
      id: randomBytes(4).toString("hex"),
      token,
      app,
      gitDir,
      actor,
      signal: controller.signal,
      closed,
      get isClosed() {
        return isClosed;
      },
      abort(reason) {
        if (!controller.signal.aborted) controller.abort(new Error(reason));
      },
      close() {
        if (isClosed) return;
        isClosed = true;
        byToken.delete(token);
        markClosed();
      },
      hookEnv(socketPath) {
        return { [HOOK_ENV.socket]: socketPath, [HOOK_ENV.token]: token, [HOOK_ENV.app]: app };
      },
    };
    byToken.set(token, session);
    return session;
  }

  /** The open session whose token this is (compared in constant time). */
  find(token: string): PushSession | undefined {
    for (const [candidate, session] of this.byToken) {
      if (sameSecret(token, candidate)) return session;
    }
    return undefined;
  }

  all(): PushSession[] {
    return [...this.byToken.values()];
  }
}
