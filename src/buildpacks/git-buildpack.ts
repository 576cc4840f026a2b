import { createHash, randomUUID } from "node:crypto";
import { mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { SlugforgeError } from "../errors.js";
import { runGit } from "../gitcli/git.js";
import { parseRefList, readRef } from "../gitcli/refs.js";

export interface FetchedBuildpack {
  /** A checkout of the buildpack on the host, never modified once made. */
  readonly dir: string;
  /** The commit the URL and ref resolved to. */
  readonly commit: string;
}

export interface FetchGitBuildpackOptions {
  /** `<dataDir>/buildpacks`: checkouts kept per URL+ref and commit. */
  readonly cacheDir: string;
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
}

/**
 * Fetches a buildpack from git the way Heroku does for BUILDPACK_URL: the ref (branch, tag or
 * commit; default HEAD) is resolved with `git ls-remote`, and a checkout of that commit is kept
 * under `<cacheDir>/<hash of url#ref>/<commit>`, made in a temp dir and renamed into place, so
 * a later build of the same commit skips the clone and concurrent builds never see half a tree.
 */
export async function fetchGitBuildpack(url: string, ref: string | undefined, options: FetchGitBuildpackOptions): Promise<FetchedBuildpack> {
  const spec = ref ? `${url}#${ref}` : url;
  const keyDir = path.join(options.cacheDir, createHash("sha256").update(spec).digest("hex").slice(0, 16));
  // Only the URL's own transport: an https:// buildpack cannot lead git to the host's files (a
  // redirect, alternates), and nothing reaches ext:: or ssh.
  const scheme = new URL(url).protocol.replace(/:$/, "");
  const protocols: Record<string, string> =
    scheme === "file" ? { "protocol.allow": "never", "protocol.file.allow": "always" } : { "protocol.allow": "never", "protocol.https.allow": "always", "protocol.http.allow": "always" };
  // A file:// buildpack has passed the operator's roots (SLUGFORGE_BUILDPACK_ROOTS) and is trusted
  // whoever owns it: a repo mounted read-only into slugforge's own container belongs to the host's
  // user, not the server's, and git refuses such a repo ("dubious ownership") unless its global
  // config says safe.directory (`-c` does not reach the upload-pack of a local clone).
  const env = scheme === "file" ? { GIT_CONFIG_GLOBAL: await trustingConfig(options.cacheDir) } : undefined;
  const notFound = (detail: string): SlugforgeError =>
    new SlugforgeError("BUILDPACK_NOT_FOUND", `could not fetch buildpack ${spec}: ${detail}`, { data: { buildpack: spec } });
  const git = async (args: string[], cwd?: string): Promise<string> => {
    const result = await runGit(args, { cwd, env, config: protocols, signal: options.signal, timeoutMs: options.timeoutMs ?? 300_000 });
    if (result.code !== 0) throw notFound(result.stderr.trim().split("\n").slice(-3).join("; ") || `git exited with ${result.code}`);
    return result.stdout;
  };

  const known = await resolveRemote(git, url, ref);
  if (!known && !(ref && /^[0-9a-f]{4,39}$/.test(ref))) throw notFound("no such ref");
  if (known) {
    const existing = path.join(keyDir, known);
    if (await isDirectory(existing)) return { dir: existing, commit: known };
  }

  await mkdir(keyDir, { recursive: true });
  const tmp = path.join(keyDir, `.tmp-${randomUUID()}`);
  try {
    await git(["clone", "--quiet", "--no-checkout", url, tmp]);
    // Only an abbreviated commit is left for checkout to resolve; names were resolved above.
    await git(["-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", known ?? ref ?? "HEAD"], tmp);
    const commit = await readRef(path.join(tmp, ".git"), "HEAD");
    if (commit === undefined) throw notFound("the checkout has no HEAD");
    const final = path.join(keyDir, commit);
    if (await isDirectory(final)) return { dir: final, commit };
    await rename(tmp, final).catch(async (err: NodeJS.ErrnoException) => {
      // Another build put the same commit in place first: theirs is as good as ours.
      if (!(await isDirectory(final))) throw err;
    });
    return { dir: final, commit };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** The commit a ref names on the remote, when ls-remote can tell (branches, tags, HEAD, full SHAs). */
async function resolveRemote(git: (args: string[]) => Promise<string>, url: string, ref: string | undefined): Promise<string | undefined> {
  if (ref && /^[0-9a-f]{40}$/.test(ref)) return ref;
  const refs = parseRefList(await git(["ls-remote", url, ref ?? "HEAD"]));
  if (!ref) return refs.get("HEAD");
  return refs.get(`refs/tags/${ref}^{}`) ?? refs.get(`refs/tags/${ref}`) ?? refs.get(`refs/heads/${ref}`) ?? refs.get(ref);
}

/** `<cacheDir>/.gitconfig-file-buildpacks`: the global config of file:// fetches, `safe.directory = *`. */
async function trustingConfig(cacheDir: string): Promise<string> {
  const file = path.join(cacheDir, ".gitconfig-file-buildpacks");
  await mkdir(cacheDir, { recursive: true });
  await writeFile(file, "[safe]\n\tdirectory = *\n");
  return file;
}

async function isDirectory(p: string): Promise<boolean> {
  return stat(p).then((s) => s.isDirectory(), () => false);
}
