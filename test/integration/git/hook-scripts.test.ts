import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { BuildRequest, Builder } from "../../../src/builds/types.js";
import { createHookBridge } from "../../../src/git/hook-bridge.js";
import { installHooks } from "../../../src/git/hook-shim.js";
import { runGitChecked } from "../../../src/gitcli/git.js";
import { silentLogger } from "../../../src/log.js";
import { runProcess } from "../../../src/util/run-process.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";

const ZERO = "0".repeat(40);
const dirs = tmpDirs();
afterAll(() => dirs.cleanup());

async function hookWith(perlPath: string): Promise<{ hook: string; dir: string }> {
  const dir = await dirs.make("sf-hooks-");
  return { hook: await installHooks(dir, process.execPath, perlPath), dir };
}

// The push tests run whichever hook this machine gets (Perl on Debian); these pin down both.
describe.each([
  { kind: "Perl", perl: "/usr/bin/perl", shebang: "#!/usr/bin/perl" },
  { kind: "node (no usable perl)", perl: "/nonexistent/perl", shebang: `#!${process.execPath}` },
])("the $kind pre-receive hook", ({ perl, shebang }) => {
  it("is the one installed, refuses a push when the bridge is down, and one without slugforge's environment", async () => {
    const { hook, dir } = await hookWith(perl);
    const script = await readFile(hook, "utf8");
    expect(script.split("\n")[0]).toBe(shebang);
    // Every push starts this hook: the Perl one loads no module but strict (Socket and IO::* took 20 ms).
    if (shebang.endsWith("perl")) expect(script.match(/^use .*$/gm)).toEqual(["use strict;"]);
    const down = await runProcess(hook, [], {
      stdin: `${ZERO} ${"1".repeat(40)} refs/heads/main\n`,
      env: { PATH: process.env.PATH, SLUGFORGE_HOOK_SOCKET: path.join(dir, "nope.sock"), SLUGFORGE_PUSH_TOKEN: "x", SLUGFORGE_APP: "x" },
    });
    expect(down.code).toBe(1);
    expect(down.stdout).toMatch(/^! {5}slugforge: cannot reach the build server \(.+\); the push was rejected\. Is slugforge running\?\n$/);
    const bare = await runProcess(hook, [], { stdin: "", env: { PATH: process.env.PATH } });
    expect(bare.code).toBe(1);
    expect(bare.stdout).toContain("push through its HTTP URL");
  });

  it("carries the push to a live bridge and streams the build's output back, ok and failed", async () => {
    const { hook, dir } = await hookWith(perl);
    const gitDir = path.join(dir, "app.git");
    await runGitChecked(["init", "-q", "--bare", gitDir]);
    const seen: BuildRequest[] = [];
    const told: { source: BuildRequest["source"]; commit: string }[] = [];
    const line = "x".repeat(99) + "\n";
    let fail = false;
    const builder: Builder = {
      pushed: (commit) => void told.push(commit),
      async build(request, output) {
        seen.push(request);
        // More than a pipe holds (64 KiB), in many writes with a NUL the bridge must strip.
        for (let i = 0; i < 1000; i++) output.write(i === 0 ? "-----> building\0\n" : line);
        return fail ? { buildId: "b1", status: "failed", error: { code: "COMPILE_FAILED", message: "compile failed" } } : { buildId: "b1", status: "succeeded" };
      },
    };
    const bridge = createHookBridge({ socketPath: path.join(dir, "hook.sock"), builder, log: silentLogger() });
    await bridge.listen();
    try {
      const run = async (): Promise<{ code: number | null; stdout: string }> => {
        const session = bridge.openPush("app", gitDir, "admin");
        try {
          return await runProcess(hook, [], {
            cwd: gitDir,
            stdin: `${ZERO} ${"1".repeat(40)} refs/heads/main\n`,
            env: {
              PATH: process.env.PATH,
              ...session.hookEnv(bridge.socketPath),
              GIT_QUARANTINE_PATH: path.join(gitDir, "objects", "tmp_objdir-incoming-x"),
              GIT_PUSH_OPTION_COUNT: "2",
              GIT_PUSH_OPTION_0: "a=1",
              GIT_PUSH_OPTION_1: 'quote " and \\ back',
            },
          });
        } finally {
          session.close();
        }
      };
      const ok = await run();
      expect(ok.code).toBe(0);
      expect(ok.stdout).toBe("-----> building\n" + line.repeat(999));
      expect(seen[0]).toMatchObject({
        app: "app",
        commit: "1".repeat(40),
        ref: "refs/heads/main",
        pushOptions: ["a=1", 'quote " and \\ back'],
        source: { gitDir, quarantinePath: path.join(gitDir, "objects", "tmp_objdir-incoming-x") },
      });
      // Told of the commit before the build, with the very source the build gets (reads are shared by it).
      expect(told).toHaveLength(1);
      expect(told[0]!.commit).toBe("1".repeat(40));
      expect(told[0]!.source).toBe(seen[0]!.source);
      fail = true;
      const failed = await run();
      expect(failed.code).toBe(1);
      expect(failed.stdout.endsWith(line + "!     COMPILE_FAILED: compile failed (build b1)\n")).toBe(true);
    } finally {
      await bridge.close();
    }
  });
});
