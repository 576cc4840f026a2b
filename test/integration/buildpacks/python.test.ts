import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createSessionBuilds, type SessionBuild } from "../../helpers/python-builds.js";
import { failureReason } from "../../helpers/failure-reason.js";

// The Python buildpack built through slugforge's build session, as a push builds (the stack's build
// image, network none), its slugs booted on the run image, which has no python3: the slug must
// carry its own interpreter.
const root = path.resolve(import.meta.dirname, "../../..");
const buildpackDir = path.join(root, "buildpacks/python");
const app = (name: string): string => path.join(root, "test/fixtures/apps", name);
const h = createSessionBuilds();

afterAll(() => h.cleanup());

/** Strips ANSI colours, for matching the text of boxes. */
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");
const plain = (s: string | undefined): string => (s ?? "").replace(ANSI, "");

describe("python buildpack: detect", () => {
  it("prints Python for an app with requirements.txt", async () => {
    const build = await h.build({ buildpackDir, files: { "requirements.txt": "" }, detectOnly: true });
    expect(build.detect.code).toBe(0);
    expect(build.detect.stdout).toBe("Python\n");
  });

  it.each(["requirments.txt", "Pipfile", "uv.lock", "manage.py", "venv/pyvenv.cfg", "__pycache__/x.pyc", ".python-version"])(
    "passes for %s (compile explains what is missing)",
    async (file) => {
      const build = await h.build({ buildpackDir, files: { [file]: "" }, detectOnly: true });
      expect(build.detect.stdout).toBe("Python\n");
    },
  );

  it("fails with the root listing and the files it looks for", async () => {
    const build = await h.build({ buildpackDir, files: { "README.md": "hi", "src/index.js": "", ".env.example": "" } });
    expect(build.detect.code).toBe(1);
    expect(build.detect.stdout).toBe("");
    const err = plain(build.detect.stderr);
    expect(err).toContain("no Python project files were found");
    expect(err).toContain(" !     .env.example\n !     README.md\n !     src/\n");
    expect(err).toContain("requirements.txt, runtime.txt");
    expect(err).toContain("touch requirements.txt");
  });
});

describe("python buildpack: a stdlib web app", () => {
  let first: SessionBuild;

  it("compiles a self-contained Python into the slug", async () => {
    first = await h.build({ buildpackDir, appDir: app("python-stdlib") });
    console.log(`cold compile: ${first.compile?.ms} ms\n${first.compile?.output}`);
    expect(first.compile?.code, first.compile?.output).toBe(0);
    expect(first.ok).toBe(true);
    const out = first.compile!.output;
    expect(out).toContain("-----> Using Python 3.13 specified in .python-version");
    expect(out).toMatch(/-----> Installing Python 3\.13\.\d+/);
    expect(out).toMatch(/-----> Installing pip \d+/);
    expect(out).toContain("-----> Installing dependencies using 'pip install -r requirements.txt'");
    expect(first.release?.yaml).toBe("---\ndefault_process_types: {}\n");
    expect(first.processTypes).toEqual({ web: "python app.py" });
    const files = await h.listSlug(first);
    expect(files).toContain(".heroku/python/bin/python3.13");
    expect(files).toContain(".heroku/python/lib/python3.13/os.py");
    expect(files).toContain(".profile.d/python.sh");
    expect(files).not.toContain(".heroku/python/lib/python3.13/EXTERNALLY-MANAGED");
  });

  it("serves from the slug on the run image, network none", async () => {
    const page = await h.boot(first, {
      afterRequest: 'echo "which=$(command -v python)"; echo "concurrency=$WEB_CONCURRENCY"; python -c "import ssl, sqlite3, ctypes, decimal, lzma, bz2, zlib; print(\'stdlib-ok\')"',
    });
    expect(page.status, page.log).toBe(200);
    expect(page.body).toMatch(/^hello from python-stdlib on Python 3\.13\.\d+/);
    expect(page.log).toContain("which=/app/.heroku/python/bin/python");
    expect(page.log).toMatch(/concurrency=\d+/);
    expect(page.log).toContain("stdlib-ok");
  });

  it("reuses the cached environment when nothing changed, and says why", async () => {
    const warm = await h.build({ buildpackDir, appDir: app("python-stdlib"), cacheFrom: first });
    console.log(`warm compile: ${warm.compile?.ms} ms (cold ${first.compile?.ms} ms)\n${warm.compile?.output}`);
    expect(warm.ok, warm.compile?.output).toBe(true);
    expect(warm.compile!.output).toContain("-----> Restoring cache");
    expect(warm.compile!.output).toContain("Skipping the dependency install");
    expect(warm.compile!.output).not.toContain("Installing pip");
    const page = await h.boot(warm);
    expect(page.status, page.log).toBe(200);
  });

  it("discards the cached environment when requirements.txt changes", async () => {
    const changed = await h.build({
      buildpackDir,
      appDir: app("python-stdlib"),
      cacheFrom: first,
      files: { "requirements.txt": "# no dependencies, still\n" },
    });
    expect(changed.ok, changed.compile?.output).toBe(true);
    expect(changed.compile!.output).toContain("-----> Discarding cache since:\n       - The contents of requirements.txt changed");
  });
});

describe("python buildpack: hooks, warnings and errors", () => {
  it("runs bin/pre_compile and bin/post_compile with config vars", async () => {
    const hook = { content: '#!/usr/bin/env bash\necho "hook $0 sees GREETING=$GREETING"\n', mode: 0o755 };
    const build = await h.build({
      buildpackDir,
      appDir: app("python-stdlib"),
      files: { "bin/pre_compile": hook, "bin/post_compile": hook },
      configVars: { GREETING: "hello" },
    });
    expect(build.ok, build.compile?.output).toBe(true);
    expect(build.compile!.output).toContain("-----> Running bin/pre_compile hook\n       hook ./bin/pre_compile sees GREETING=hello");
    expect(build.compile!.output).toContain("-----> Running bin/post_compile hook\n       hook ./bin/post_compile sees GREETING=hello");
  });

  it("fails the build when bin/post_compile fails", async () => {
    const build = await h.build({
      buildpackDir,
      appDir: app("python-stdlib"),
      files: { "bin/post_compile": { content: "#!/bin/sh\necho broken >&2\nexit 3\n", mode: 0o755 } },
    });
    expect(build.compile?.code).toBe(1);
    expect(build.compile!.output).toContain("       broken");
    expect(plain(build.compile!.output)).toContain("Error: Failed to run the bin/post_compile script.");
    expect(plain(build.compile!.output)).toContain("exited with status\n !     3.");
    expect(failureReason(build.compile!.output)).toBe("hooks::post_compile");
  });

  it("warns when the app has no Procfile", async () => {
    const build = await h.build({ buildpackDir, files: { "requirements.txt": "", ".python-version": "3.13\n" } });
    expect(build.ok, build.compile?.output).toBe(true);
    expect(plain(build.compile!.output)).toContain("Warning: Your app has no web process.");
    expect(build.processTypes).toEqual({});
  });

  it("honours PIP_NO_INDEX / PIP_FIND_LINKS config vars, and explains a failed install", async () => {
    const build = await h.build({
      buildpackDir,
      files: { "requirements.txt": "flask\n", ".python-version": "3.13\n", Procfile: "web: flask run\n" },
      configVars: { PIP_NO_INDEX: "1", PIP_FIND_LINKS: "/nonexistent" },
    });
    expect(build.compile?.code).toBe(1);
    expect(build.compile!.output).toMatch(/No matching distribution found for flask/);
    expect(plain(build.compile!.output)).toContain("Error: Unable to install dependencies using pip.");
    expect(plain(build.compile!.output)).toContain("settings from your config vars");
    expect(failureReason(build.compile!.output)).toBe("install-dependencies::pip");
  });

  it("refuses an app with no package manager file, listing its root", async () => {
    const build = await h.build({ buildpackDir, files: { "app.py": "print(1)\n" } });
    expect(build.compile?.code).toBe(1);
    expect(plain(build.compile!.output)).toContain("Error: Couldn't find any supported Python package manager files.");
    expect(plain(build.compile!.output)).toContain(" !     app.py\n");
    expect(failureReason(build.compile!.output)).toBe("package-manager::none-found");
  });
});
