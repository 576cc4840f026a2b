import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { installHooks } from "../../../src/git/hook-shim.js";
import { runProcess } from "../../../src/util/run-process.js";

const ZERO = "0".repeat(40);
const made: string[] = [];
afterAll(async () => Promise.all(made.map((d) => rm(d, { recursive: true, force: true }))));

async function hookWith(perlPath: string): Promise<{ hook: string; dir: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "sf-hooks-"));
  made.push(dir);
  return { hook: await installHooks(dir, process.execPath, perlPath), dir };
}

// The push tests run whichever hook this machine gets (Perl on Debian); these pin down both.
describe.each([
  { kind: "Perl", perl: "/usr/bin/perl", shebang: "#!/usr/bin/perl" },
  { kind: "node (no usable perl)", perl: "/nonexistent/perl", shebang: `#!${process.execPath}` },
])("the $kind pre-receive hook", ({ perl, shebang }) => {
  it("is the one installed, refuses a push when the bridge is down, and one without slugforge's environment", async () => {
    const { hook, dir } = await hookWith(perl);
    expect((await readFile(hook, "utf8")).split("\n")[0]).toBe(shebang);
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
});
