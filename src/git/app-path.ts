/** The smart-HTTP routes: decided from the raw URL, before anything touches the disk. */

export type GitService = "git-receive-pack" | "git-upload-pack";
export type GitRoute = "info/refs" | GitService;

export interface GitPath {
  /** The name as written in the URL; check it with isValidAppName (src/names.ts) before use. */
  readonly app: string;
  readonly route: GitRoute;
}

/**
 * Recognises `/<name>.git/info/refs`, `/<name>.git/git-receive-pack` and `/<name>.git/git-upload-pack`
 * on the raw (undecoded) path. `<name>` is one segment of URL-safe characters with no dot, so `..`,
 * `%2e%2e`, `//etc`, nested paths, `app.git.git` and NUL never match; dumb-protocol paths (`HEAD`,
 * `objects/...`) are not routes. Anything else is not ours, and the caller answers 404.
 */
export function parseGitPath(rawUrl: string): GitPath | undefined {
  const q = rawUrl.indexOf("?");
  const pathname = q === -1 ? rawUrl : rawUrl.slice(0, q);
  const m = /^\/([A-Za-z0-9_-]{1,100})\.git\/(info\/refs|git-receive-pack|git-upload-pack)$/.exec(pathname);
  if (!m) return undefined;
  return { app: m[1]!, route: m[2] as GitRoute };
}

/** The `service` query parameter of info/refs, when it is one we serve. */
export function parseService(rawUrl: string): GitService | undefined {
  const q = rawUrl.indexOf("?");
  if (q === -1) return undefined;
  const services = new URLSearchParams(rawUrl.slice(q + 1)).getAll("service");
  if (services.length !== 1) return undefined;
  const service = services[0];
  return service === "git-receive-pack" || service === "git-upload-pack" ? service : undefined;
}

/** Gitea's check before a client's Git-Protocol header may become GIT_PROTOCOL. */
export function validGitProtocol(header: string | string[] | undefined): string | undefined {
  if (typeof header !== "string") return undefined;
  return /^[0-9a-zA-Z]+=[0-9a-zA-Z]+(:[0-9a-zA-Z]+=[0-9a-zA-Z]+)*$/.test(header) ? header : undefined;
}
