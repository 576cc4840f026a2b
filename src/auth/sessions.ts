import { createHash, randomBytes } from "node:crypto";
import type { Principal, Authenticator } from "./principal.js";

/** How long a dashboard session lasts at most; signing out, a restart or the token's revocation end it sooner. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
/** Sessions kept at once; past it the oldest ends (only a valid token can start one). */
const MAX_SESSIONS = 10_000;

export interface Session {
  /** 32 random bytes, base64url: the cookie's value, kept here only as its sha256. */
  readonly id: string;
  readonly principal: Principal;
  /** Epoch ms. */
  readonly expiresAt: number;
}

/**
 * The dashboard's sign-ins. A session holds the principal, never the token: the token crosses the
 * wire once, at sign-in, and the browser keeps only an id that means nothing after sign-out or a
 * restart (sessions live in this process's memory).
 */
export interface Sessions {
  /** Signs in with a token; undefined when the token does not authenticate. */
  start(token: string): Promise<Session | undefined>;
  /**
   * A session as it is now: its principal is checked again on every request, so a revoked token
   * (or one whose app was deleted) ends its sessions at once. Undefined for an unknown or expired id.
   */
  find(id: string): Promise<Session | undefined>;
  end(id: string): void;
}

export interface SessionOptions {
  readonly ttlMs?: number;
  readonly now?: () => number;
}

export function createSessions(auth: Authenticator, options: SessionOptions = {}): Sessions {
  const ttlMs = options.ttlMs ?? SESSION_TTL_MS;
  const now = options.now ?? Date.now;
  // Keyed by the id's hash: a lookup's timing says nothing about the ids kept, nor does a heap dump hold them.
  const kept = new Map<string, { principal: Principal; expiresAt: number }>();
  const key = (id: string): string => createHash("sha256").update(id, "utf8").digest("hex");
  const sweep = (): void => {
    const t = now();
    for (const [k, s] of kept) if (s.expiresAt <= t) kept.delete(k);
    // Map order is insertion order: the first ones are the oldest.
    for (const k of kept.keys()) {
      if (kept.size < MAX_SESSIONS) break;
      kept.delete(k);
    }
  };
  return {
    async start(token) {
      const principal = await auth.resolveToken(token);
      if (!principal) return undefined;
      if (kept.size >= MAX_SESSIONS) sweep();
      const id = randomBytes(32).toString("base64url");
      const expiresAt = now() + ttlMs;
      kept.set(key(id), { principal, expiresAt });
      return { id, principal, expiresAt };
    },
    async find(id) {
      const k = key(id);
      const session = kept.get(k);
      if (!session) return undefined;
      const principal = session.expiresAt > now() ? await auth.recheck(session.principal) : undefined;
      // Only this session's own entry: it may have been ended or replaced while the check ran.
      if (!principal) {
        if (kept.get(k) === session) kept.delete(k);
        return undefined;
      }
      return { id, principal, expiresAt: session.expiresAt };
    },
    end(id) {
      kept.delete(key(id));
    },
  };
}
