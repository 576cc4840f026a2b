import path from "node:path";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { bareRepoWithCommit, gitBuildpack, captureOutput, git, readSlug, request, slugFile, suiteTempDir, testService, writeFiles } from "./helpers.js";

/*
 * A warm build (layer mode: a container prepared with the last commit and the same buildpacks)
 * runs bin/detect in the source step's exec, right after /app is updated. It must choose exactly
 * what detect in execs of its own would: the shipped order's first taker, every one of an app's
 * list, the same NO_BUILDPACK_DETECTED with each detect's output; and a bin/detect that writes
 * lines of its own into the script's output only sends the build the long way.
 */
describe("bin/detect in the source step's exec (real Docker, real git)", () => {
  const root = suiteTempDir();

  const logged = (): { stream: PassThrough; count(msg: string, field?: string): number; lines: Record<string, unknown>[] } => {
    const stream = new PassThrough();
    const lines: Record<string, unknown>[] = [];
    stream.on("data", (b: Buffer) => lines.push(...b.toString("utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)));
    return { stream, lines, count: (msg, field) => lines.filter((l) => l.msg === msg && (field === undefined || l[field] !== undefined)).length };
  };

  it("chooses the shipped order's first taker, as detect's own execs do", async () => {
    const repo = await bareRepoWithCommit(`${root.dir}/shipped`, { "n.txt": "0\n" });
    const work = path.join(root.dir, "shipped", "work");
    const at = { GIT_DIR: repo.gitDir, GIT_WORK_TREE: work };
    const log = logged();
    const service = testService(`${root.dir}/data-shipped`, { shipped: ["never", "static"], logStream: log.stream });
    for (let n = 1; n <= 3; n++) {
      const out = captureOutput();
      const commit = n === 1 ? repo.commit : (await writeFiles(work, { "n.txt": `${n}\n` }), git(["commit", "--quiet", "-am", `n ${n}`], at), git(["rev-parse", "HEAD"], at).trim());
      const result = await service.build({ ...request("shipped", repo), commit }, out, new AbortController().signal);
      expect(result.error, out.text()).toBeUndefined();
      expect(out.text().match(/app detected/g)).toEqual(["app detected"]);
      expect(out.text()).toContain("Static app detected");
      await service.idle();
    }
    // The first build's detects ran in execs of their own (never's, then static's); the two warm
    // builds' ran in the source's exec: both buildpacks' each time.
    expect(log.count("detect")).toBe(2);
    const updates = log.lines.filter((l) => l.msg === "source updated from the commit in the prepared container");
    expect(updates.map((l) => l.detected)).toEqual([2, 2]);
  });

  it("needs every one of the app's list, and says why none took the app", async () => {
    const bpRepo = path.join(root.dir, "picky-buildpack");
    await gitBuildpack(bpRepo, {
      "bin/detect": {
        content: [
          "#!/usr/bin/env bash",
          // A result line of its own into the script's stdout (the long way then), when asked to.
          'if [[ -f "$1/forge" ]]; then printf "0 Rm9yZ2Vk \\n0 Rm9yZ2Vk \\n" > "/proc/$PPID/fd/1" 2>/dev/null || true; fi',
          'if [[ -f "$1/accept" ]]; then echo "Picky"; exit 0; fi',
          'echo "Picky (no)"; echo "no accept file in $1" >&2; exit 1',
          "",
        ].join("\n"),
        mode: 0o755,
      },
      "bin/compile": { content: '#!/usr/bin/env bash\necho "-----> picky compiled"\ndate +%s%N > "$1/built"\n', mode: 0o755 },
    });

    const repo = await bareRepoWithCommit(`${root.dir}/picky`, { ".buildpacks": `file://${bpRepo}\n`, accept: "" });
    const work = path.join(root.dir, "picky", "work");
    const at = { GIT_DIR: repo.gitDir, GIT_WORK_TREE: work };
    const log = logged();
    const dataDir = `${root.dir}/data-picky`;
    const service = testService(dataDir, { shipped: ["static"], logStream: log.stream });
    const build = async (change: (w: string) => Promise<void>, first = false): Promise<{ text: string; error?: { code: string; message: string }; slug?: string }> => {
      let commit = repo.commit;
      if (!first) {
        await change(work);
        git(["add", "-A"], at);
        git(["commit", "--quiet", "--allow-empty", "-m", "change"], at);
        commit = git(["rev-parse", "HEAD"], at).trim();
      }
      const out = captureOutput();
      const result = await service.build({ ...request("picky", repo), commit }, out, new AbortController().signal);
      await service.idle();
      return { text: out.text(), error: result.error, slug: result.error ? undefined : slugFile(dataDir, result) };
    };

    const first = await build(async () => undefined, true);
    expect(first.error, first.text).toBeUndefined();
    const warm = await build((w) => writeFiles(w, { "n.txt": "1\n" }));
    expect(warm.error, warm.text).toBeUndefined();
    expect(warm.text).toContain("Picky app detected");
    expect(log.lines.filter((l) => l.msg === "source updated from the commit in the prepared container").map((l) => l.detected)).toEqual([1]);
    expect((await readSlug(warm.slug!)).has("./app/built")).toBe(true);

    // A bin/detect that writes result lines of its own: the update fails, /app is unpacked whole,
    // and detect runs in its own exec (where it has no such parent), with the right answer.
    const forged = await build((w) => writeFiles(w, { forge: "" }));
    expect(forged.error, forged.text).toBeUndefined();
    expect(forged.text).toContain("Picky app detected");
    expect(log.count("updating the source in the prepared container failed; unpacking it whole")).toBe(1);
    const slug = await readSlug(forged.slug!);
    expect([slug.has("./app/forge"), slug.has("./app/accept"), slug.has("./app/n.txt")]).toEqual([true, true, true]);

    // Refused, warm: the same error and each detect's own output, as from its own exec.
    git(["rm", "--quiet", "accept", "forge"], at);
    const refused = await build(async () => undefined);
    expect(refused.error?.code, refused.text).toBe("NO_BUILDPACK_DETECTED");
    expect(refused.error?.message).toContain("does not accept this app (bin/detect failed)");
    expect(refused.error?.message).toContain(`The app root holds: .buildpacks, n.txt. Buildpacks tried: file://${bpRepo}.`);
    expect(log.lines.filter((l) => l.msg === "source updated from the commit in the prepared container").map((l) => l.detected)).toEqual([1, 1]);
  });
});
