import { chmod, mkdir, rm, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { bareRepoWithCommit, captureOutput, git, request, suiteTempDir, testService, writeFiles } from "./helpers.js";

/*
 * The source step on a container made ahead of time: /app holds the app's last built commit, and
 * only what changed is swapped. Whatever changed, the slug is the one a build from nothing makes
 * (the static buildpack writes the same files every time, so equal sources give equal slugs).
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
    const commit = (message: string): string => {
      git(["add", "-A"], env);
      git(["commit", "--quiet", "--allow-empty", "-m", message], env);
      return git(["rev-parse", "HEAD"], env).trim();
    };
    const first = commit("with the link");

    const logs = new PassThrough();
    const lines: string[] = [];
    logs.on("data", (b: Buffer) => lines.push(...b.toString("utf8").split("\n").filter(Boolean)));
    const service = testService(`${root.dir}/data`, { shipped: ["static"], logStream: logs });
    const built = async (app: string, at: string, on = service, pushOptions: string[] = []): Promise<{ sha: string; output: string }> => {
      const out = captureOutput();
      const result = await on.build({ ...request(app, repo), commit: at, pushOptions }, out, new AbortController().signal);
      expect(result.error, out.text()).toBeUndefined();
      await on.idle();
      return { sha: result.slug!.sha256, output: out.text() };
    };
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

    const updated = await built("upd", second);
    expect(updates()).toHaveLength(1);
    expect(updates()[0]).toMatchObject({ from: first });
    const fresh = await built("fresh", second, testService(`${root.dir}/data-fresh`, { shipped: ["static"] }));
    expect(updated.sha).toBe(fresh.sha);
    expect(updated.output).toContain(".slugignore removed 3 files");
    expect(fresh.output).toContain(".slugignore removed 3 files");

    // The same tree again (an empty commit, built anyway): nothing to swap, the commit's time still on every entry.
    const third = commit("empty");
    const again = await built("upd", third, service, ["rebuild"]);
    expect(updates()).toHaveLength(2);
    expect(again.sha).toBe((await built("fresh3", third, testService(`${root.dir}/data-fresh3`, { shipped: ["static"] }))).sha);

    // A changed .slugignore: /app is emptied and the commit unpacked whole.
    await writeFile(path.join(work, ".slugignore"), "*.txt\n");
    await mkdir(path.join(work, "ignored"), { recursive: true });
    const fourth = commit("new .slugignore");
    const whole = await built("upd", fourth);
    expect(updates()).toHaveLength(2);
    expect(whole.sha).toBe((await built("fresh4", fourth, testService(`${root.dir}/data-fresh4`, { shipped: ["static"] }))).sha);
  });
});
