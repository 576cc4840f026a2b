import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { runGitChecked } from "../../../src/gitcli/git.js";
import { parseRefList, readRef, setSymbolicRef } from "../../../src/gitcli/refs.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";

const dirs = tmpDirs();
let gitDir: string;
let commit: string;
const A = "a".repeat(40);
const B = "b".repeat(40);

beforeAll(async () => {
  gitDir = path.join(await dirs.make("sf-refs-"), "app.git");
  await runGitChecked(["init", "--quiet", "--bare", "-b", "main", gitDir]);
  const env = { GIT_DIR: gitDir, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@t", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@t" };
  const tree = (await runGitChecked(["mktree"], { env, stdin: "" })).stdout.trim();
  commit = (await runGitChecked(["commit-tree", tree, "-m", "one"], { env })).stdout.trim();
});
afterAll(() => dirs.cleanup());

it("reads a loose ref, else packed-refs, and says undefined for a missing one", async () => {
  await mkdir(path.join(gitDir, "refs", "heads"), { recursive: true });
  await writeFile(path.join(gitDir, "refs", "heads", "main"), `${A}\n`);
  await writeFile(path.join(gitDir, "packed-refs"), `# pack-refs with: peeled fully-peeled sorted\n${B} refs/heads/master\n`);
  expect(await readRef(gitDir, "refs/heads/main")).toBe(A);
  expect(await readRef(gitDir, "refs/heads/master")).toBe(B);
  expect(await readRef(gitDir, "refs/heads/other")).toBeUndefined();
});

it("leaves a symbolic ref to git, and points HEAD through git", async () => {
  await writeFile(path.join(gitDir, "refs", "heads", "main"), `${commit}\n`);
  expect(await readRef(gitDir, "HEAD")).toBe(commit);
  expect(await setSymbolicRef(gitDir, "HEAD", "refs/heads/master")).toBe(true);
  expect((await runGitChecked(["--git-dir", gitDir, "symbolic-ref", "HEAD"])).stdout.trim()).toBe("refs/heads/master");
});

it("parses ls-remote's listing, keeping the first of a name", () => {
  const refs = parseRefList(`${A}\tHEAD\n${B}\trefs/heads/main\n${A}\trefs/heads/main\nnot a ref line\n`);
  expect([...refs]).toEqual([["HEAD", A], ["refs/heads/main", B]]);
});
