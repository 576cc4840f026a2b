import { mkdir, readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { runGit, runGitChecked, type GitEnvExtras } from "../gitcli/git.js";
import { EXPECTATIONS_FILE } from "./expectations.js";

/** A sample as named on the command line, after a folder of samples was expanded. */
export interface SampleRef {
  readonly name: string;
  /** What the user gave: a directory, or a git URL with an optional #ref. */
  readonly source: string;
  readonly kind: "dir" | "git";
}

/** A sample ready to build: committed to a repository of its own, its expectations file read. */
export interface PreparedSample extends SampleRef {
  readonly gitDir: string;
  readonly commit: string;
  /** slugforge-test.yml's text, when the sample has one. */
  readonly expectationsText?: string;
}

const URL_LIKE = /^(?:[a-z][a-z0-9+.-]*:\/\/|[\w.-]+@[\w.-]+:)/i;

/**
 * Turns the sample arguments into samples: a git URL is one sample, an app directory is one,
 * and a directory holding only folders (no files other than dotfiles and READMEs) is a folder of
 * samples, each subfolder one app. Throws with every argument that is neither.
 */
export async function expandSamples(args: readonly string[]): Promise<SampleRef[]> {
  const out: SampleRef[] = [];
  const problems: string[] = [];
  for (const arg of args) {
    const st = await stat(arg).catch(() => undefined);
    if (!st) {
      if (URL_LIKE.test(arg) && !arg.startsWith("ext::")) out.push({ name: repoName(arg), source: arg, kind: "git" });
      else problems.push(`${arg}: no such directory, and not a git URL`);
      continue;
    }
    if (!st.isDirectory()) {
      problems.push(`${arg}: not a directory`);
      continue;
    }
    if (await isBareRepo(arg)) out.push({ name: repoName(arg), source: path.resolve(arg), kind: "git" });
    else if (await isSampleFolder(arg)) {
      const subs = (await readdir(arg, { withFileTypes: true })).filter((e) => e.isDirectory() && !e.name.startsWith(".")).map((e) => e.name).sort();
      for (const sub of subs) out.push({ name: sub, source: path.resolve(arg, sub), kind: "dir" });
    } else out.push({ name: path.basename(path.resolve(arg)), source: path.resolve(arg), kind: "dir" });
  }
  if (problems.length > 0) throw new Error(problems.join("\n"));
  return uniqueNames(out);
}

async function isSampleFolder(dir: string): Promise<boolean> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files = entries.filter((e) => !e.isDirectory() && !e.name.startsWith(".") && !/^readme/i.test(e.name));
  const dirs = entries.filter((e) => e.isDirectory() && !e.name.startsWith("."));
  return files.length === 0 && dirs.length > 0 && !entries.some((e) => e.name === ".git");
}

async function isBareRepo(dir: string): Promise<boolean> {
  const result = await runGit(["-C", dir, "rev-parse", "--is-bare-repository"]).catch(() => undefined);
  return result?.code === 0 && result.stdout.trim() === "true" && (await stat(path.join(dir, "objects")).catch(() => undefined)) !== undefined;
}

/**
 * Commits the sample as it is on disk (uncommitted and untracked files included, .gitignore'd
 * ones and slugforge-test.yml left out) into `<workDir>/source.git`, which build/'s source phase
 * then reads as it reads a push. A git sample is cloned first, at its #ref.
 */
export async function prepareSample(ref: SampleRef, workDir: string, signal?: AbortSignal): Promise<PreparedSample> {
  await mkdir(workDir, { recursive: true });
  let tree = ref.source;
  if (ref.kind === "git") {
    const hash = ref.source.lastIndexOf("#");
    const url = hash > 0 ? ref.source.slice(0, hash) : ref.source;
    const gitRef = hash > 0 ? ref.source.slice(hash + 1) : undefined;
    tree = path.join(workDir, "checkout");
    // The user's own clone: their ssh agent and proxy settings go with it.
    await runGitChecked(["clone", "--quiet", "--", url, tree], { inherit: CLONE_ENV, signal });
    if (gitRef) await runGitChecked(["-C", tree, "checkout", "--quiet", "--detach", gitRef, "--"], { signal });
  }
  const gitDir = path.join(workDir, "source.git");
  await runGitChecked(["init", "--quiet", "--bare", gitDir], { signal });
  const env: GitEnvExtras = { ...SAMPLE_AUTHOR, GIT_DIR: gitDir, GIT_WORK_TREE: tree, GIT_INDEX_FILE: path.join(workDir, "source.index") };
  await runGitChecked(["add", "--all", "--", ".", `:(exclude)${EXPECTATIONS_FILE}`], { env, cwd: tree, signal });
  const treeId = (await runGitChecked(["write-tree"], { env, signal })).stdout.trim();
  const commit = (await runGitChecked(["commit-tree", treeId, "-m", `sample ${ref.name} from ${ref.source}`], { env, signal })).stdout.trim();
  const expectationsText = await readFile(path.join(tree, EXPECTATIONS_FILE), "utf8").catch(() => undefined);
  return { ...ref, gitDir, commit, expectationsText };
}

const SAMPLE_AUTHOR: GitEnvExtras = {
  GIT_AUTHOR_NAME: "slugforge",
  GIT_AUTHOR_EMAIL: "buildpack-test@slugforge.invalid",
  GIT_COMMITTER_NAME: "slugforge",
  GIT_COMMITTER_EMAIL: "buildpack-test@slugforge.invalid",
};

/** What a clone of the user's sample URL may need from their environment (ssh agent, proxies). */
const CLONE_ENV = ["SSH_AUTH_SOCK", "GIT_SSH_COMMAND", "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"];

function repoName(source: string): string {
  const url = source.replace(/#.*$/, "").replace(/\/+$/, "");
  return url.split(/[/:]/).pop()?.replace(/\.git$/, "") || "sample";
}

function uniqueNames(samples: SampleRef[]): SampleRef[] {
  const seen = new Map<string, number>();
  return samples.map((s) => {
    const n = (seen.get(s.name) ?? 0) + 1;
    seen.set(s.name, n);
    return n === 1 ? s : { ...s, name: `${s.name}-${n}` };
  });
}
