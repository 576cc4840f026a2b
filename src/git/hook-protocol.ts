/**
 * What the pre-receive shim and the bridge say to each other. The bridge answers with the build's
 * text as it comes, interleaved with control records: a NUL, a word, a newline. Output never holds
 * NUL (the bridge strips it), so the shim can cut the records out without any other framing.
 * The hook programs (hooks/pre-receive.{pl,cjs}) get these values from installHooks (hook-shim.ts).
 */
export const CONTROL_PREFIX = "\0SLUGFORGE-";
export const KEEPALIVE_RECORD = `${CONTROL_PREFIX}KEEPALIVE\n`;
export const STATUS_OK = `${CONTROL_PREFIX}STATUS ok\n`;
export const statusFail = (code: string): string => `${CONTROL_PREFIX}STATUS fail ${code}\n`;

/** Path of the bridge's one route. */
export const PRE_RECEIVE_PATH = "/pre-receive";

/** Environment the receive-pack child (and so the hook) gets. */
export const HOOK_ENV = {
  socket: "SLUGFORGE_HOOK_SOCKET",
  token: "SLUGFORGE_PUSH_TOKEN",
  app: "SLUGFORGE_APP",
  idleTimeoutMs: "SLUGFORGE_HOOK_IDLE_TIMEOUT_MS",
} as const;

export interface HookRefLine {
  readonly old: string;
  readonly new: string;
  readonly ref: string;
}

/** The JSON body the shim POSTs. */
export interface HookRequest {
  readonly app: string;
  readonly cwd: string;
  readonly refs: readonly HookRefLine[];
  readonly objectDirectory?: string;
  readonly alternateObjectDirectories?: string;
  readonly quarantinePath?: string;
  readonly pushOptions: readonly string[];
}

const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/** Checks a body from the socket; returns undefined when it is not a HookRequest. */
export function parseHookRequest(raw: string): HookRequest | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const optString = (x: unknown): x is string | undefined => x === undefined || typeof x === "string";
  if (typeof v.app !== "string" || typeof v.cwd !== "string" || !Array.isArray(v.refs) || !Array.isArray(v.pushOptions)) return undefined;
  if (!optString(v.objectDirectory) || !optString(v.alternateObjectDirectories) || !optString(v.quarantinePath)) return undefined;
  if (!v.pushOptions.every((o) => typeof o === "string")) return undefined;
  const refs: HookRefLine[] = [];
  for (const r of v.refs as unknown[]) {
    if (typeof r !== "object" || r === null) return undefined;
    const { old, new: next, ref } = r as Record<string, unknown>;
    if (typeof old !== "string" || typeof next !== "string" || typeof ref !== "string") return undefined;
    if (!SHA.test(old) || !SHA.test(next) || !ref.startsWith("refs/")) return undefined;
    refs.push({ old, new: next, ref });
  }
  return {
    app: v.app,
    cwd: v.cwd,
    refs,
    objectDirectory: v.objectDirectory as string | undefined,
    alternateObjectDirectories: v.alternateObjectDirectories as string | undefined,
    quarantinePath: v.quarantinePath as string | undefined,
    pushOptions: v.pushOptions as string[],
  };
}

export function isZeroSha(sha: string): boolean {
  return /^0+$/.test(sha);
}
