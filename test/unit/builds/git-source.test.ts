import { rename } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { gitArchive, readCommitFile, readPushedCommit } from "../../../src/builds/git-source.js";
import type { SourceRef } from "../../../src/builds/types.js";
import { runGitChecked } from "../../../src/gitcli/git.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";

const dirs = tmpDirs();
let gitDir: string;
let commit: string;
const WHEN = 1_700_000_000;

beforeAll(async () => {
  gitDir = path.join(await dirs.make("sf-source-"), "app.git");
  await runGitChecked(["init", "--quiet", "--bare", gitDir]);
  const who = { GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@t", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@t", GIT_COMMITTER_DATE: `${WHEN} +0200` };
  const env = { GIT_DIR: gitDir, ...who };
  const blob = async (text: string | Buffer): Promise<string> => (await runGitChecked(["hash-object", "-w", "--stdin"], { env, stdin: text.toString() })).stdout.trim();
  const entries = [
    `100644 blob ${await blob("*.log\n")}\t.slugignore`,
    `100644 blob ${await blob("x".repeat(1024 * 1024 + 1))}\t.buildpacks`,
  ];
  const tree = (await runGitChecked(["mktree"], { env, stdin: `${entries.join("\n")}\n` })).stdout.trim();
  commit = (await runGitChecked(["commit-tree", tree, "-m", "one"], { env })).stdout.trim();
});
afterAll(() => dirs.cleanup());

it("reads the commit's time and small files once per build, with a larger file counted as none", async () => {
  const source: SourceRef = { gitDir };
  const read = await readPushedCommit(source, commit);
  expect(read.date.getTime()).toBe(WHEN * 1000);
  expect(read.files).toEqual({ ".slugignore": "*.log\n" });
  // The steps' later questions are answered from that one read: no git runs for them.
  const moved = `${gitDir}.moved`;
  await rename(gitDir, moved);
  try {
    expect(await readCommitFile(source, commit, ".slugignore")).toBe("*.log\n");
    expect(await readCommitFile(source, commit, ".buildpacks")).toBeUndefined();
    expect((await readPushedCommit(source, commit)).date.getTime()).toBe(WHEN * 1000);
  } finally {
    await rename(moved, gitDir);
  }
});

it("fails with INTERNAL for a commit that is not there", async () => {
  await expect(readPushedCommit({ gitDir }, "0".repeat(40))).rejects.toMatchObject({ code: "INTERNAL" });
});

it("stops git archive when its reader goes away before reading anything, and says it failed", async () => {
  // The archive (over 1 MiB) is more than the pipe holds: git would wait on it for ever, and the
  // pipe, paused and unread, would keep the server's process alive after git was gone.
  const { stream, done } = gitArchive({ gitDir }, commit);
  stream.destroy();
  await expect(done).rejects.toThrow(/git archive .* exited with/);
}, 10_000);
