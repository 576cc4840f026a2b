/**
 * Where release images go (SLUGFORGE_REGISTRY): a registry's host (with its port) and a path
 * prefix, as an image name starts: `127.0.0.1:5590/slugforge` makes `127.0.0.1:5590/slugforge/<app>:vN`.
 */
export interface RegistrySetting {
  /** `host` or `host:port`, as image names carry it. */
  readonly host: string;
  /** Path components before the app's name (may be empty). */
  readonly prefix: string;
  /**
   * How the registry is spoken to. A loopback registry is plain HTTP (as the Docker engine treats
   * 127.0.0.0/8 as insecure); any other is HTTPS unless the setting says `http://`.
   */
  readonly scheme: "http" | "https";
}

const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:]+\])(?::\d{1,5})?$/;
/** The distribution spec's path component: lowercase, separators `.`, `_`, `__` or dashes inside. */
const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;

/** `[http(s)://]host[:port][/prefix...]`, or an error saying what is expected. */
export function parseRegistrySetting(raw: string): RegistrySetting | { error: string } {
  const expected = "expected host[:port]/prefix, e.g. 127.0.0.1:5590/slugforge (http:// or https:// before it to choose)";
  const m = /^(?:(https?):\/\/)?([^/]+)((?:\/[^/]+)*)\/?$/.exec(raw.trim());
  if (!m) return { error: expected };
  const [, scheme, host = "", path = ""] = m;
  const prefix = path.replace(/^\//, "");
  if (!HOST.test(host)) return { error: `"${host}" is not a registry host; ${expected}` };
  const bad = prefix === "" ? undefined : prefix.split("/").find((c) => !COMPONENT.test(c));
  if (bad !== undefined) return { error: `"${bad}" is not a valid path component of an image name (lowercase letters, digits, and . _ - inside)` };
  return { host, prefix, scheme: (scheme as "http" | "https" | undefined) ?? (isLoopback(host) ? "http" : "https") };
}

function isLoopback(host: string): boolean {
  const name = host.replace(/:\d+$/, "");
  return name === "localhost" || /^127\.\d+\.\d+\.\d+$/.test(name) || name === "[::1]";
}
