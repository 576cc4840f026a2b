import { chmod, mkdir, rm, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { bareRepoWithCommit, captureOutput, git, readSlug, request, slugFile, slugTimes, suiteTempDir, testService, writeFiles } from "./helpers.js";

/*
 * The source step on a container made ahead of time: /app holds the app's last built commit, and
 * only what changed is swapped. Whatever changed, the slug holds what a build from nothing gives
 * (the static buildpack writes the same files every time, so equal sources give equal slugs), but
 * as in a working copy git updated, only what changed gets the new commit's time.
 */
describe("the source updated in the prepared container (real Docker, real git)", () => {
  const root = suiteTempDir();

  it("adds, changes, removes, retypes and ignores paths exactly as unpacking the whole commit does", async () => {
    const repo = await bareRepoWithCommit(`${root.dir}/app`, {
      ".slugignore": "ignored/\n*.log\n",
      "keep.txt": "same\n",
      "change.txt": "one\n",
      "gone.txt": "bye\n",
      "exec.sh": "#!/bin/sh\n",
      "dir2file/a.txt": "a\n",
      file2dir: "f\n",
      "sub/deep/x.txt": "x\n",
      "ignored/secret": "s\n",
      "app.log": "l\n",
    });
    const work = path.join(root.dir, "app", "work");
    await symlink("keep.txt", path.join(work, "link"));
    const env = { GIT_DIR: repo.gitDir, GIT_WORK_TREE: work };
    // Each commit 100 s after the one before (and long after bareRepoWithCommit's).
    let at = 1_700_000_000;
    const commit = (message: string): string => {
      at += 100;
      const date = `@${at} +0000`;
      git(["add", "-A"], env);
      git(["commit", "--quiet", "--allow-empty", "-m", message], { ...env, GIT_COMMITTER_DATE: date, GIT_AUTHOR_DATE: date });
      return git(["rev-parse", "HEAD"], env).trim();
    };
    const first = commit("with the link");
    const t1 = at;

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
      return { sha: result.slug!.sha256, output: out.text(), entries: await readSlug(file), times: await slugTimes(file) };
    };
    const fresh = (app: string, commitId: string) => built(app, commitId, testService(`${root.dir}/data-${app}`, { shipped: ["static"] }));
    // What the build from nothing gave, but the times: the same files, folders, links, modes, content.
    const sameTree = (a: Awaited<ReturnType<typeof built>>, b: Awaited<ReturnType<typeof built>>): void => expect(a.entries).toEqual(b.entries);
    const updates = (): Record<string, unknown>[] =>
      lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === "source updated from the commit in the prepared container");
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

    const t2 = at;
    const updated = await built("upd", second);
    expect(updates()).toHaveLength(1);
    expect(updates()[0]).toMatchObject({ from: first });
    const fromNothing = await fresh("fresh", second);
    sameTree(updated, fromNothing);
    expect(updated.output).toContain(".slugignore removed 3 files");
    expect(fromNothing.output).toContain(".slugignore removed 3 files");
    // From nothing, every entry has the commit's time. Updated, only what changed has it (and the
    // folders it changed in, and what the build made: clamped to it); the rest keeps the first's.
    expect(new Set(fromNothing.times.values())).toEqual(new Set([t2]));
    const changedAt = {
      "./app/": t2,
      "./app/.slugignore": t1,
      "./app/keep.txt": t1,
      "./app/change.txt": t2,
      "./app/exec.sh": t2,
      "./app/link": t2,
      "./app/dir2file": t2,
      "./app/file2dir/": t2,
      "./app/file2dir/b.txt": t2,
      "./app/new/": t2,
      "./app/new/nested/": t2,
      "./app/new/nested/n.txt": t2,
      "./app/static/css/site.css": t2,
    };
    expect(Object.fromEntries([...updated.times].filter(([name]) => name in changedAt))).toEqual(changedAt);

    // The same tree again (an empty commit, built anyway): nothing to swap, nothing changes time;
    // the container made for it had the last build's times (laid from its commit with them).
    const third = commit("empty");
    const again = await built("upd", third, service, ["rebuild"]);
    expect(updates()).toHaveLength(2);
    sameTree(again, await fresh("fresh3", third));
    // (/app itself and what the build made change with every build.)
    const kept = (times: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(times).filter(([name]) => name in changedAt && name !== "./app/" && !name.startsWith("./app/static/")));
    expect(kept(Object.fromEntries(again.times))).toEqual(kept(changedAt));

    // A changed .slugignore: /app is emptied and the commit unpacked whole, every entry with its time.
    await writeFile(path.join(work, ".slugignore"), "*.txt\n");
    await mkdir(path.join(work, "ignored"), { recursive: true });
    const fourth = commit("new .slugignore");
    const whole = await built("upd", fourth);
    expect(updates()).toHaveLength(2);
    const wholeFresh = await fresh("fresh4", fourth);
    expect(whole.sha).toBe(wholeFresh.sha);
    expect(new Set(whole.times.values())).toEqual(new Set([at]));
  });
});
