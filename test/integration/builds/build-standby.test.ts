import path from "node:path";
import { describe, expect, it } from "vitest";
import type { Container, ContainerRuntime, CreatedContainer } from "../../../src/docker/container-runtime.js";
import { appRepo, gitBuildpack, buildContainers, captureOutput, git, readSlug, request, runtime, slugFile, suiteTempDir, testService, writeFiles } from "./helpers.js";

/*
 * A container prepared for an app's next build (layer mode) is started with three execs waiting
 * in it, for the source update, the first bin/compile and bin/release: a warm build then starts
 * none of those execs itself. What runs in them behaves as in an exec of its own: its stdin, output, exit code,
 * environment; and a build that does not use them ends them.
 */
describe("execs waiting in a prepared container (real Docker, real git)", () => {
  const root = suiteTempDir();

  /** The engine, recording each exec's command as it starts. */
  const recording = (): { runtime: ContainerRuntime; execs: string[] } => {
    const execs: string[] = [];
    const wrapContainer = (c: Container): Container => ({
      ...c,
      exec: (cmd, options) => {
        execs.push(cmd.join(" "));
        return c.exec(cmd, options);
      },
      isRunning: () => c.isRunning(),
      stop: () => c.stop(),
      remove: () => c.remove(),
    });
    const wrapCreated = (c: CreatedContainer): CreatedContainer => ({ id: c.id, upperDir: c.upperDir, start: async () => wrapContainer(await c.start()), remove: () => c.remove() });
    return { execs, runtime: { ...runtime, create: async (spec) => wrapCreated(await runtime.create(spec)), start: async (spec) => wrapContainer(await runtime.start(spec)) } };
  };

  it("run the source update and the first compile of a warm build, as execs of their own would", async () => {
    const bpRepo = path.join(root.dir, "standby-buildpack");
    await gitBuildpack(bpRepo, {
      "bin/detect": { content: '#!/usr/bin/env bash\necho "Standby"\n', mode: 0o755 },
      "bin/compile": {
        content: [
          "#!/usr/bin/env bash",
          "set -euo pipefail",
          // What an exec of its own gives: arguments, environment, no input, its working folder.
          'printf "%s\\n" "$@" > "$1/args"',
          'env | sort > "$1/env"',
          'cat > "$1/stdin"',
          'pwd > "$1/cwd"',
          'echo "-----> compiled $(cat "$1/n.txt")"',
          'echo "a warning" >&2',
          'if [[ -f "$1/fail" ]]; then exit 7; fi',
          'if [[ -f "$1/slow" ]]; then echo "-----> sleeping"; sleep 60; fi',
          "",
        ].join("\n"),
        mode: 0o755,
      },
      "bin/release": {
        content: [
          "#!/usr/bin/env bash",
          'if [[ -f "$1/release-fail" ]]; then echo "release broke" >&2; exit 5; fi',
          'echo "release said" >&2',
          'printf -- "---\ndefault_process_types:\n  web: serve %s\n" "$(cat "$1/n.txt")"',
          "",
        ].join("\n"),
        mode: 0o755,
      },
    });

    const repo = await appRepo(`${root.dir}/app`, { ".buildpacks": `file://${bpRepo}\n`, "n.txt": "0\n" });
    const { work, at } = repo;
    const engine = recording();
    const dataDir = `${root.dir}/data`;
    const service = testService(dataDir, { shipped: ["static"], runtime: engine.runtime, configVars: { A: "1" } });
    const build = async (
      files: Record<string, string>,
      remove: string[] = [],
    ): Promise<{ text: string; execs: string[]; code?: string; slug?: Map<string, { content: string }>; processTypes?: Record<string, string> }> => {
      await writeFiles(work, files);
      if (remove.length) git(["rm", "--quiet", ...remove], at);
      git(["add", "-A"], at);
      git(["commit", "--quiet", "-m", "next"], at);
      const commit = git(["rev-parse", "HEAD"], at).trim();
      const out = captureOutput();
      const from = engine.execs.length;
      const result = await service.build({ ...request("standby", repo), commit }, out, new AbortController().signal);
      const execs = engine.execs.slice(from);
      await service.idle();
      return { text: out.text(), execs, code: result.error?.code, slug: result.error ? undefined : await readSlug(slugFile(dataDir, result)), processTypes: result.processTypes };
    };

    const cold = await build({ "n.txt": "1\n" });
    expect(cold.code, cold.text).toBeUndefined();
    // Cold: the source, detect and compile each in an exec of its own.
    expect(cold.execs.filter((c) => c.includes("bin/compile"))).toHaveLength(1);
    expect(cold.execs.filter((c) => c.includes("bin/release"))).toHaveLength(1);
    expect(cold.processTypes).toEqual({ web: "serve 1" });

    const warm = await build({ "n.txt": "2\n" });
    expect(warm.code, warm.text).toBeUndefined();
    // Warm: neither the source update nor the compile started an exec (only the waiting ones ran them).
    expect(warm.execs.filter((c) => c.includes("bin/compile") || c.includes("bin/release") || c.includes("tar -x") || c.includes("touch"))).toEqual([]);
    expect(warm.processTypes).toEqual({ web: "serve 2" });
    expect(warm.text).toContain("release said");
    expect(warm.text).toContain("-----> compiled 2");
    expect(warm.text).toContain("a warning");
    const [coldSlug, warmSlug] = [cold.slug!, warm.slug!];
    for (const f of ["args", "cwd", "stdin"]) expect(warmSlug.get(`./app/${f}`)?.content, f).toBe(coldSlug.get(`./app/${f}`)?.content);
    const env = (slug: Map<string, { content: string }>): string => slug.get("./app/env")!.content.replace(/^(SOURCE_VERSION|REQUEST_ID)=.*$/gm, "$1=…");
    expect(env(warmSlug)).toBe(env(coldSlug));
    expect(warmSlug.get("./app/stdin")?.content).toBe("");
    expect(warmSlug.get("./app/n.txt")?.content).toBe("2\n");

    // A source that cannot be updated in place (a new .slugignore) is unpacked whole in an exec of
    // its own; the exec that waited for the update is ended as the build closes.
    const unpacked = await build({ "n.txt": "3\n", ".slugignore": "nothing-here\n" });
    expect(unpacked.code, unpacked.text).toBeUndefined();
    expect(unpacked.execs.filter((c) => c.includes("tar -x -p -f - -C /app"))).toHaveLength(1);
    expect(unpacked.execs.filter((c) => c.includes("bin/compile"))).toEqual([]);
    // A compile that fails in the waiting exec: its own exit code, as COMPILE_FAILED; the next
    // build (with no prepared container, as after any failure) is as good as ever.
    const failed = await build({ "n.txt": "4\n", fail: "" });
    expect(failed.code, failed.text).toBe("COMPILE_FAILED");
    expect(failed.text).toContain("bin/compile exited with 7");
    expect(failed.execs.filter((c) => c.includes("bin/compile"))).toEqual([]);

    const after = await build({ "n.txt": "5\n" }, ["fail"]);
    expect(after.code, after.text).toBeUndefined();
    expect(after.slug!.get("./app/n.txt")?.content).toBe("5\n");

    // Cancelled while its compile runs in the waiting exec: the container goes, and the compile with it.
    await writeFiles(work, { "n.txt": "6\n", slow: "" });
    git(["add", "-A"], at);
    git(["commit", "--quiet", "-m", "slow"], at);
    const controller = new AbortController();
    const out = captureOutput();
    const from = engine.execs.length;
    const watching = {
      write(chunk: string | Buffer) {
        out.write(chunk);
        if (chunk.toString().includes("sleeping")) controller.abort();
      },
    };
    const started = Date.now();
    const cancelled = await service.build({ ...request("standby", repo), commit: git(["rev-parse", "HEAD"], at).trim() }, watching, controller.signal);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(cancelled.error?.code, out.text()).toBe("BUILD_CANCELLED");
    expect(engine.execs.slice(from).filter((c) => c.includes("bin/compile"))).toEqual([]);
    expect(await buildContainers(cancelled.buildId)).toEqual([]);
    await service.idle();
    expect((await runtime.listContainers("org.slugforge.app=standby")).length).toBeLessThanOrEqual(1);

    // A bin/release that fails in the waiting exec: its own exit code, as RELEASE_INVALID.
    const again = await build({ "n.txt": "7\n" }, ["slow"]);
    expect(again.code, again.text).toBeUndefined();
    const releaseFailed = await build({ "n.txt": "8\n", "release-fail": "" });
    expect(releaseFailed.code, releaseFailed.text).toBe("RELEASE_INVALID");
    expect(releaseFailed.text).toContain("exited with 5");
    expect(releaseFailed.text).toContain("release broke");
    expect(releaseFailed.execs.filter((c) => c.includes("bin/release"))).toEqual([]);
  });
});
