import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { buildpacksKey, envKey, layBuildpacks, layEnv } from "../../../src/builds/laid-inputs.js";

/* The host lays the last build's buildpacks and ENV_DIR in a created container's layer (here a plain folder; root, as the server). */
describe("laid-inputs", () => {
  const dirs: string[] = [];
  const tempDir = async (): Promise<string> => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "laid-inputs-"));
    dirs.push(dir);
    return dir;
  };
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });
  const signal = new AbortController().signal;

  it("lays buildpacks as the build user's, without .git or set-id bits, links as links", async () => {
    const bp = await tempDir();
    await mkdir(path.join(bp, "bin"));
    await mkdir(path.join(bp, ".git"));
    await writeFile(path.join(bp, ".git", "HEAD"), "ref\n");
    await writeFile(path.join(bp, "bin", "compile"), "#!/bin/sh\n", { mode: 0o755 });
    await chmod(path.join(bp, "bin", "compile"), 0o4755);
    await symlink("/etc/passwd", path.join(bp, "link"));
    const upper = await tempDir();
    await layBuildpacks(upper, [{ dir: "/tmp/buildpacks/0-mine", hostDir: bp }], signal);
    const root = path.join(upper, "tmp", "buildpacks");
    expect(await readdir(path.join(root, "0-mine"))).toEqual(["bin", "link"]);
    for (const [rel, mode] of [["", 0o40755], ["0-mine/bin/compile", 0o100755]] as const) {
      const st = await lstat(path.join(root, rel));
      expect([st.uid, st.gid, st.mode], rel).toEqual([1000, 1000, mode]);
    }
    expect((await lstat(path.join(root, "0-mine", "link"))).isSymbolicLink()).toBe(true);
  });

  it("leaves nothing laid when a buildpack cannot be read, and refuses a folder outside /tmp/buildpacks", async () => {
    const upper = await tempDir();
    await expect(layBuildpacks(upper, [{ dir: "/tmp/buildpacks/0-gone", hostDir: path.join(upper, "no-such-folder") }], signal)).rejects.toThrow();
    await expect(lstat(path.join(upper, "tmp", "buildpacks"))).rejects.toThrow(/ENOENT/);
    const bp = await tempDir();
    await expect(layBuildpacks(upper, [{ dir: "/etc/x", hostDir: bp }], signal)).rejects.toThrow(/not in \/tmp\/buildpacks/);
    await expect(lstat(path.join(upper, "tmp", "buildpacks"))).rejects.toThrow(/ENOENT/);
  });

  it("lays ENV_DIR as 0600 files of the build user's, the folder as the stack image has it, and keys it by names and values", async () => {
    const upper = await tempDir();
    const vars = { B: "two words", A: "1", "not-a-name": "x" };
    expect(await layEnv(upper, vars, signal)).toBe(envKey(vars));
    const env = path.join(upper, "tmp", "env");
    expect(await readdir(env)).toEqual(["A", "B"]);
    expect(await readFile(path.join(env, "B"), "utf8")).toBe("two words");
    const dir = await lstat(env);
    const file = await lstat(path.join(env, "A"));
    expect([dir.uid, dir.mode, file.uid, file.mode]).toEqual([1000, 0o40755, 1000, 0o100600]);
    // The key: order does not matter, a value or a name does; names that cannot be files do not.
    expect(envKey({ A: "1", B: "two words" })).toBe(envKey(vars));
    expect(envKey({ A: "1", B: "two words!" })).not.toBe(envKey(vars));
    expect(envKey({ A: "1" })).not.toBe(envKey(vars));
    expect(buildpacksKey([{ dir: "/tmp/buildpacks/0-a", digest: "d" }])).not.toBe(buildpacksKey([{ dir: "/tmp/buildpacks/1-a", digest: "d" }]));
  });
});
