import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { bareRepoWithCommit, buildContainers, captureOutput, readSlug, slugFile, request, suiteTempDir, testService } from "./helpers.js";

describe("build contract (real Docker, fixture buildpacks)", () => {
  const root = suiteTempDir();

  it("runs detect/compile/release with exactly the Heroku contract and writes an ./app slug", async () => {
    process.env.SLUGFORGE_LEAK_CHECK = "server-secret";
    const repo = await bareRepoWithCommit(`${root.dir}/a`, {
      RECORD: "",
      "Procfile": "web: gunicorn app:app\nworker: python worker.py\n",
      ".slugignore": "# comment\n*.psd\ndocs/\n/tests\n!keep.psd\n",
      "design.psd": "big",
      "docs/guide.md": "docs",
      "tests/test_app.py": "t",
      "src/tests/kept.py": "kept",
      "app.py": "print('hi')\n",
    });
    const logStream = new PassThrough();
    let logs = "";
    logStream.on("data", (b: Buffer) => (logs += b.toString()));
    const configVars = { DATABASE_URL: "postgres://secret@db/x", EMPTY: "", WITH_SPACE: "a b" };
    const service = testService(`${root.dir}/data-a`, { configVars, logStream });
    const out = captureOutput();
    const result = await service.build(request("contract", repo), out, new AbortController().signal);
    const text = out.text();
    expect(result.error).toBeUndefined();
    expect(result.status).toBe("succeeded");
    expect(text.split("\n")[0]).toMatch(new RegExp(`^-----> Build ${result.buildId} of contract \\(${repo.commit.slice(0, 7)}\\)$`));
    expect(text).toContain("-----> Recorder app detected\n");
    expect(text).not.toContain("Never");
    expect(text).toContain("-----> Discovering process types\n       Procfile declares types     -> web, worker\n");
    expect(text).toContain("       Default types for buildpack -> exported\n");
    expect(text).toMatch(/-----> Compressing...\n {7}Done: \d+(\.\d)?[BKM]\n/);
    expect(result.processTypes).toEqual({ web: "gunicorn app:app", worker: "python worker.py", exported: "echo unset" });
    // A build that kept its cache leaves its container to background work (saving the cache from its layer).
    await service.idle();
    expect(await buildContainers(result.buildId)).toEqual([]);

    const slug = await readSlug(slugFile(`${root.dir}/data-a`, result));
    const names = [...slug.keys()];
    expect(names.every((n) => n === "./app/" || n.startsWith("./app/"))).toBe(true);
    expect(names.some((n) => n.includes(".git/") || n.endsWith("/.git"))).toBe(false);
    expect(names).toContain("./app/Procfile");
    expect(names).toContain("./app/app.py");
    expect(names).toContain("./app/src/tests/kept.py");
    expect(names.filter((n) => /design\.psd|docs\/|\.\/app\/tests/.test(n))).toEqual([]);
    expect(result.slug?.id).toMatch(/^sha256:[0-9a-f]{64}$/);

    const record = (name: string): string => slug.get(`./app/.record/${name}`)?.content ?? "";
    expect(record("argv").trim().split("\n")).toEqual([
      "/tmp/buildpacks/1-recorder/bin/compile",
      "/app",
      "/tmp/cache/recorder",
      "/tmp/env",
    ]);
    const env = Object.fromEntries(record("env").trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
    // `env` itself adds `_` under bash; everything else is ours.
    delete env._;
    delete env.SHLVL;
    delete env.PWD;
    expect(Object.keys(env).sort()).toEqual(["BUILD_DIR", "CACHE_DIR", "ENV_DIR", "HOME", "LANG", "PATH", "REQUEST_ID", "SOURCE_VERSION", "STACK"]);
    expect(env).toMatchObject({
      BUILD_DIR: "/app",
      CACHE_DIR: "/tmp/cache/recorder",
      ENV_DIR: "/tmp/env",
      HOME: "/app",
      LANG: "C.UTF-8",
      PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      REQUEST_ID: result.buildId,
      SOURCE_VERSION: repo.commit,
      STACK: "debian-13",
    });
    expect(record("env")).not.toContain("server-secret");
    expect(record("uid").trim()).toBe("1000");
    expect(record("user").trim()).toBe("slug");
    expect(record("cwd").trim()).toBe("/app");
    expect(record("cache_writable").trim()).toBe("yes");
    expect(record("env_dir").trim().split("\n")).toEqual(["600 1000 DATABASE_URL=postgres://secret@db/x", "600 1000 EMPTY=", "600 1000 WITH_SPACE=a b"]);
    expect(slug.has("./app/.home-writable")).toBe(true);
    // Operator logs (pino, debug level) carry the build's ids but never a config var's value.
    expect(logs).toContain(result.buildId);
    expect(logs).not.toContain("postgres://secret");
    expect(text).not.toContain("postgres://secret");
  });
});
