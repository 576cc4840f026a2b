import { rm } from "node:fs/promises";
import path from "node:path";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { appRepo, gitBuildpack, captureOutput, git, readSlug, request, slugFile, suiteTempDir, testService, writeFiles } from "./helpers.js";

/*
 * The buildpacks and ENV_DIR of an app's last build, laid by the host in the container prepared
 * for its next build (layer mode): the same ones cost the next build no exec; other ones (a
 * config var changed or gone, a buildpack's new commit with a file removed) replace them, so the
 * build sees exactly what a build from nothing would.
 */
describe("buildpacks and ENV_DIR laid in the prepared container (real Docker, real git)", () => {
  const root = suiteTempDir();

  it("are used when equal and replaced whole when not", async () => {
    // A buildpack in git, which reports what it finds of itself and of ENV_DIR into the slug.
    const bpRepo = path.join(root.dir, "laid-buildpack");
    const atBp = await gitBuildpack(bpRepo, {
      VERSION: "1\n",
      "old.txt": "only in the first version\n",
      "bin/detect": { content: "#!/usr/bin/env bash\necho Laid\n", mode: 0o755 },
      "bin/compile": {
        content: [
          "#!/usr/bin/env bash",
          "set -euo pipefail",
          'bp_dir="$(cd "$(dirname "$0")/.." && pwd)"',
          'cp "$bp_dir/VERSION" "$1/buildpack-version"',
          '(cd "$bp_dir" && find . | sort | while read -r f; do echo "$(stat -c "%u %a" "$f") $f"; done) > "$1/buildpack-files"',
          ': > "$1/env-dir"',
          'for f in "$3"/*; do [[ -e "$f" ]] || continue; echo "$(stat -c "%u %a" "$f") $(basename "$f")=$(cat "$f")" >> "$1/env-dir"; done',
          'echo "-----> Laid buildpack $(cat "$bp_dir/VERSION")"',
          "",
        ].join("\n"),
        mode: 0o755,
      },
    });

    const repo = await appRepo(`${root.dir}/app`, { ".buildpacks": `file://${bpRepo}\n`, "n.txt": "0\n" });
    const { work, at } = repo;
    let n = 0;
    const commit = async (): Promise<string> => {
      await writeFiles(work, { "n.txt": `${++n}\n` });
      git(["commit", "--quiet", "-am", `change ${n}`], at);
      return git(["rev-parse", "HEAD"], at).trim();
    };

    const logs = new PassThrough();
    const lines: Record<string, unknown>[] = [];
    logs.on("data", (b: Buffer) => lines.push(...b.toString("utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)));
    const configVars: Record<string, string> = { A: "1", B: "two words" };
    const service = testService(`${root.dir}/data`, { shipped: ["static"], configVars, logStream: logs });
    const built = async (at: string): Promise<{ version: string; files: string; env: string }> => {
      const out = captureOutput();
      const result = await service.build({ ...request("laid", repo), commit: at }, out, new AbortController().signal);
      expect(result.error, out.text()).toBeUndefined();
      await service.idle();
      const slug = await readSlug(slugFile(`${root.dir}/data`, result));
      return { version: slug.get("./app/buildpack-version")!.content, files: slug.get("./app/buildpack-files")!.content, env: slug.get("./app/env-dir")!.content };
    };
    const count = (msg: string): number => lines.filter((l) => l.msg === msg).length;
    const BUILDPACKS_LAID = "buildpacks laid in the prepared container already";
    const ENV_LAID = "ENV_DIR laid in the prepared container already";

    const first = await built(repo.commit);
    expect(first.version).toBe("1\n");
    expect(first.files).toContain("1000 644 ./old.txt\n");
    expect(first.files).toContain("1000 755 ./bin/compile\n");
    expect(first.env).toBe("1000 600 A=1\n1000 600 B=two words\n");
    expect([count(BUILDPACKS_LAID), count(ENV_LAID)]).toEqual([0, 0]);

    // The same buildpack and config: nothing copied in, the same seen.
    const second = await built(await commit());
    expect([count(BUILDPACKS_LAID), count(ENV_LAID)]).toEqual([1, 1]);
    expect(second).toEqual(first);

    // A config var changed, one gone: ENV_DIR is replaced whole.
    configVars.A = "3";
    delete configVars.B;
    const third = await built(await commit());
    expect([count(BUILDPACKS_LAID), count(ENV_LAID)]).toEqual([2, 1]);
    expect(third.env).toBe("1000 600 A=3\n");
    expect(third.files).toBe(first.files);

    // The buildpack's next commit, a file removed: its folder is replaced whole.
    await writeFiles(bpRepo, { VERSION: "2\n" });
    await rm(path.join(bpRepo, "old.txt"));
    git(["add", "-A"], atBp);
    git(["commit", "--quiet", "-m", "v2"], atBp);
    const fourth = await built(await commit());
    expect([count(BUILDPACKS_LAID), count(ENV_LAID)]).toEqual([2, 2]);
    expect(fourth.version).toBe("2\n");
    expect(fourth.files).not.toContain("old.txt");
    expect(fourth.files).toBe(first.files.replace("1000 644 ./old.txt\n", ""));
    expect(fourth.env).toBe("1000 600 A=3\n");

    // And the new ones are laid for the build after.
    const fifth = await built(await commit());
    expect([count(BUILDPACKS_LAID), count(ENV_LAID)]).toEqual([3, 3]);
    expect(fifth).toEqual(fourth);
  });
});
