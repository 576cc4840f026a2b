import { readFile } from "node:fs/promises";
import path from "node:path";
import { runGit } from "./git.js";

/**
 * Refs are read here and nowhere else (as isomorphic-git's GitRefManager does): from the repo's
 * own files when they are plain (a loose ref, else packed-refs) without starting git, and through
 * `git rev-parse` when they are not.
 */

const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/**
 * Where a ref points (`refs/heads/main`, `HEAD`), or undefined when it does not exist. Read from
 * the files: the gate reads two or three refs per push, and a git process for each cost more than
 * the rest of the gate. Anything unusual (a symbolic ref, reftable storage) is left to git.
 */
export async function readRef(gitDir: string, ref: string): Promise<string | undefined> {
  const loose = await readFile(path.join(gitDir, ref), "utf8").catch((err: NodeJS.ErrnoException) => (err.code === "ENOENT" ? null : undefined));
  if (loose !== null) {
    const sha = loose?.trim();
    return sha !== undefined && SHA.test(sha) ? sha : revParse(gitDir, ref);
  }
  const packed = await readFile(path.join(gitDir, "packed-refs"), "utf8").catch(() => "");
  for (const line of packed.split("\n")) {
    const [sha, name] = line.split(" ");
    if (name === ref && sha && SHA.test(sha)) return sha;
  }
  const storage = await readFile(path.join(gitDir, "config"), "utf8").catch(() => "");
  return /refstorage\s*=\s*reftable/i.test(storage) ? revParse(gitDir, ref) : undefined;
}

async function revParse(gitDir: string, ref: string): Promise<string | undefined> {
  const r = await runGit(["--git-dir", gitDir, "rev-parse", "--verify", "--quiet", ref]);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

/** Points a symbolic ref (HEAD) at `target` through git, so its locking applies; false when git refused. */
export async function setSymbolicRef(gitDir: string, name: string, target: string): Promise<boolean> {
  const r = await runGit(["--git-dir", gitDir, "symbolic-ref", name, target]);
  return r.code === 0;
}

/** `<sha>\t<name>` lines, as `git ls-remote` prints a remote's refs: name -> sha, first one kept. */
export function parseRefList(text: string): Map<string, string> {
  const refs = new Map<string, string>();
  for (const line of text.split("\n")) {
    const [sha, name] = line.split("\t");
    if (sha && name && SHA.test(sha) && !refs.has(name)) refs.set(name, sha);
  }
  return refs;
}
