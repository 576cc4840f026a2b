import { execFileSync } from "node:child_process";
import { chmod, mkdir, rm, symlink, truncate, writeFile } from "node:fs/promises";
import path from "node:path";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { PREPARED_LABEL } from "../../../src/builds/build-container.js";
import { forgetSourceTimes } from "../../../src/builds/source-times.js";
import { bareRepoWithCommit, captureOutput, git, request, runtime, slugFile, slugTimes, suiteTempDir, testService, writeFiles } from "./helpers.js";

/*
 * The source step on a container made ahead of time: /app holds the app's last built commit, and
 * only what changed is swapped. Whatever changed, the slug is the one a build from nothing makes
 * (the static buildpack writes the same files every time, so equal sources give equal slugs), with
 * the same times: each path's last change's, so what did not change keeps its time.
 */
/** Commits what is in `work` to the repository, each commit 100 s after the last (the first 100 s after `start`); `now()`: the last one's time. */
function committer(gitDir: string, work: string, start: number): { commit(message: string): string; now(): number } {
  let at = start;
  const env = { GIT_DIR: gitDir, GIT_WORK_TREE: work };
  return {
    commit(message) {
      at += 100;
      const date = `@${at} +0000`;
      git(["add", "-A"], env);
      git(["commit", "--quiet", "--allow-empty", "-m", message], { ...env, GIT_COMMITTER_DATE: date, GIT_AUTHOR_DATE: date });
      return git(["rev-parse", "HEAD"], env).trim();
    },
    now: () => at,
  };
}

describe("the source updated in the prepared container (real Docker, real git)", () => {
  const root = suiteTempDir();

  it("adds, changes, removes, retypes and ignores paths exactly as unpacking the whole commit does", async () => {
    // Commits a day ago, 100 s apart (what a build makes has a later time: the slug clamps it to its commit's).
    const t0 = Math.floor(Date.now() / 1000) - 86_400;
    const repo = await bareRepoWithCommit(`${root.dir}/app`, {
      ".slugignore": "ignored/\n*.log\n",
      Procfile: "web: ./exec.sh\n",
      "keep.txt": "same\n",
      "change.txt": "one\n",
      "gone.txt": "bye\n",
      "exec.sh": "#!/bin/sh\n",
      "dir2file/a.txt": "a\n",
      file2dir: "f\n",
      "sub/deep/x.txt": "x\n",
      "ignored/secret": "s\n",
      "app.log": "l\n",
    }, { GIT_COMMITTER_DATE: `@${t0} +0000` });
    const work = path.join(root.dir, "app", "work");
    await symlink("keep.txt", path.join(work, "link"));
    const { commit, now } = committer(repo.gitDir, work, t0);
    const first = commit("with the link");

    const logs = new PassThrough();
    const lines: string[] = [];
    logs.on("data", (b: Buffer) => lines.push(...b.toString("utf8").split("\n").filter(Boolean)));
    const service = testService(`${root.dir}/data`, { shipped: ["static"], logStream: logs });
    const built = async (app: string, commitId: string, on = service, pushOptions: string[] = []) => {
      const out = captureOutput();
      const result = await on.build({ ...request(app, repo), commit: commitId, pushOptions }, out, new AbortController().signal);
      expect(result.error, out.text()).toBeUndefined();
      await on.idle();
      const file = slugFile(on === service ? `${root.dir}/data` : `${root.dir}/data-${app}`, result);
      return { sha: result.slug!.sha256, output: out.text(), times: await slugTimes(file), processTypes: result.processTypes };
    };
    // A build from nothing, in another server that has not worked out any commit's times.
    const fresh = (app: string, commitId: string) => {
      forgetSourceTimes();
      return built(app, commitId, testService(`${root.dir}/data-${app}`, { shipped: ["static"] }));
    };
    const updates = (): Record<string, unknown>[] =>
      lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === "source updated from the commit in the prepared container");
    // Where each slug was read from: the laid tar and what changed since, once a prepared container had it read.
    const slugsFrom = (): unknown[] => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === "slug written" && l.app === "upd").map((l) => l.from);
    await built("upd", first);
    expect(updates()).toHaveLength(0);

    // Every kind of change at once.
    await writeFile(path.join(work, "change.txt"), "two\n");
    await rm(path.join(work, "gone.txt"));
    await chmod(path.join(work, "exec.sh"), 0o755);
    await rm(path.join(work, "link"));
    await symlink("change.txt", path.join(work, "link"));
    await rm(path.join(work, "dir2file"), { recursive: true });
    await writeFile(path.join(work, "dir2file"), "now a file\n");
    await rm(path.join(work, "file2dir"));
    await writeFiles(work, { "file2dir/b.txt": "b\n", "new/nested/n.txt": "n\n", "new.log": "ignored\n", "ignored/more": "m\n" });
    await rm(path.join(work, "sub"), { recursive: true });
    await rm(path.join(work, "app.log"));
    const second = commit("every kind of change");
    const t2 = now();

    const updated = await built("upd", second);
    expect(updates()).toHaveLength(1);
    expect(updates()[0]).toMatchObject({ from: first });
    const fromNothing = await fresh("fresh", second);
    expect(updated.sha).toBe(fromNothing.sha);
    expect(slugsFrom()).toEqual(["layer", "laid"]);
    // Laid beneath the container's upper layer (the engine's init layer): what changed was listed from the upper one, not walked.
    const listed = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === "what the build changed beneath the laid /app, listed from the upper layer");
    expect(listed).toHaveLength(1);
    // The Procfile did not change, so it is not in the upper layer: it is read where /app is whole.
    expect(updated.processTypes).toEqual({ web: "./exec.sh" });
    expect(fromNothing.processTypes).toEqual({ web: "./exec.sh" });
    expect(updated.output).toContain(".slugignore removed 3 files");
    expect(fromNothing.output).toContain(".slugignore removed 3 files");
    // What changed (and the folders it is in) has the second commit's time; the rest, its last change's.
    // (/app itself, and what the build made, are clamped to the commit's time.)
    const changedAt = {
      "./app/": t2,
      "./app/.slugignore": t0,
      "./app/keep.txt": t0,
      "./app/change.txt": t2,
      "./app/exec.sh": t2,
      "./app/link": t2,
      "./app/dir2file": t2,
      "./app/file2dir/": t2,
      "./app/file2dir/b.txt": t2,
      "./app/new/": t2,
      "./app/new/nested/": t2,
      "./app/new/nested/n.txt": t2,
    };
    expect(Object.fromEntries([...updated.times].filter(([name]) => name in changedAt))).toEqual(changedAt);

    // The same tree again (an empty commit, built anyway): nothing to swap, nothing changes its time.
    const third = commit("empty");
    const again = await built("upd", third, service, ["rebuild"]);
    expect(updates()).toHaveLength(2);
    expect(again.sha).toBe((await fresh("fresh3", third)).sha);
    expect(slugsFrom().at(-1)).toBe("laid");
    const kept = (times: ReadonlyMap<string, number>): Record<string, number> => Object.fromEntries([...times].filter(([name]) => name in changedAt && name !== "./app/"));
    expect(kept(again.times)).toEqual(kept(updated.times));

    // A changed .slugignore: /app is emptied and the commit unpacked whole.
    await writeFile(path.join(work, ".slugignore"), "*.txt\n");
    await mkdir(path.join(work, "ignored"), { recursive: true });
    const fourth = commit("new .slugignore");
    const whole = await built("upd", fourth);
    expect(updates()).toHaveLength(2);
    expect(whole.sha).toBe((await fresh("fresh4", fourth)).sha);
    expect(slugsFrom().at(-1)).toBe("laid");

    // The laid tar cut short behind slugforge's back (a full disk, a hand): the slug is read whole, the same.
    await writeFile(path.join(work, "change.txt"), "three\n");
    const fifth = commit("after a cut laid tar");
    const [prepared] = await runtime.listContainers(`${PREPARED_LABEL}=upd`);
    const upperDir = execFileSync("docker", ["inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", prepared!], { encoding: "utf8" }).trim();
    await truncate(path.join(path.dirname(upperDir), "slugforge-laid-app.tar"), 1000);
    const cut = await built("upd", fifth);
    expect(cut.sha).toBe((await fresh("fresh5", fifth)).sha);
    expect(slugsFrom().at(-1)).toBe("layer");
    expect(lines.some((l) => l.includes("could not make the slug from the laid tar"))).toBe(true);
  });

  it("follows the commit's .gitattributes (export-ignore, export-subst) as unpacking the whole commit does, and reads no index of the tree without one", async () => {
    const t0 = Math.floor(Date.now() / 1000) - 86_400;
    const repo = await bareRepoWithCommit(`${root.dir}/attr`, { "a.txt": "a\n", "version.txt": "commit $Format:%H$\n", "secret.txt": "s\n" }, { GIT_COMMITTER_DATE: `@${t0} +0000` });
    const { commit } = committer(repo.gitDir, path.join(root.dir, "attr", "work"), t0);
    const work = path.join(root.dir, "attr", "work");
    const logs = new PassThrough();
    const lines: string[] = [];
    logs.on("data", (b: Buffer) => lines.push(...b.toString("utf8").split("\n").filter(Boolean)));
    const service = testService(`${root.dir}/data-attr`, { shipped: ["static"], logStream: logs });
    const built = async (app: string, commitId: string, on = service) => {
      const out = captureOutput();
      const result = await on.build({ ...request(app, repo), commit: commitId }, out, new AbortController().signal);
      expect(result.error, out.text()).toBeUndefined();
      await on.idle();
      return result.slug!.sha256;
    };
    const fresh = (app: string, commitId: string): Promise<string> => {
      forgetSourceTimes();
      return built(app, commitId, testService(`${root.dir}/data-attr-${app}`, { shipped: ["static"] }));
    };
    const updates = (): Record<string, unknown>[] =>
      lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === "source updated from the commit in the prepared container");
    await built("attr", commit("first"));

    // No .gitattributes: git reads none from the tree.
    await writeFiles(work, { "a.txt": "a2\n", "version.txt": "commit $Format:%H$ again\n" });
    const second = commit("no attributes");
    expect(await built("attr", second)).toBe(await fresh("f2", second));
    expect(updates().at(-1)).toMatchObject({ treeAttributes: false, unpacked: 2 });

    // A .gitattributes in a folder: a file kept out of the archive, one with the commit's id put in.
    await writeFiles(work, { "sub/.gitattributes": "secret.txt export-ignore\nversion.txt export-subst\n", "sub/secret.txt": "s\n", "sub/version.txt": "commit $Format:%H$\n", "a.txt": "a3\n" });
    const third = commit("attributes");
    expect(await built("attr", third)).toBe(await fresh("f3", third));
    expect(updates().at(-1)).toMatchObject({ treeAttributes: true });

    // Both files changed again, and the one at the top: the tree's attributes still apply.
    await writeFiles(work, { "sub/secret.txt": "s2\n", "sub/version.txt": "commit $Format:%H$ (2)\n", "version.txt": "top $Format:%H$\n" });
    const fourth = commit("changed under attributes");
    expect(await built("attr", fourth)).toBe(await fresh("f4", fourth));
    expect(updates().at(-1)).toMatchObject({ treeAttributes: true, unpacked: 3 });
  });
});
