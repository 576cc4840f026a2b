import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSessionBuilds, ensureWheelhouse, type SessionBuild } from "../../helpers/python-builds.js";
import type { Mount } from "../../../src/docker/container-runtime.js";

// Apps with real dependencies, installed offline from a wheelhouse made from Debian's python3-*
// packages (scripts/make-wheelhouse.sh), mounted read-only and named by PIP_FIND_LINKS +
// PIP_NO_INDEX config vars, as a user with a private index would configure it.
const root = path.resolve(import.meta.dirname, "../../..");
const buildpackDir = path.join(root, "buildpacks/python");
const app = (name: string): string => path.join(root, "test/fixtures/apps", name);
const h = createSessionBuilds();
let mounts: Mount[];
let configVars: Record<string, string>;

const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");
const plain = (s: string | undefined): string => (s ?? "").replace(ANSI, "");

beforeAll(async () => {
  const wheelhouse = await ensureWheelhouse();
  mounts = [wheelhouse.mount];
  configVars = wheelhouse.configVars;
});
afterAll(() => h.cleanup());

describe("python buildpack: Flask + gunicorn from the wheelhouse", () => {
  let cold: SessionBuild;

  it("installs the requirements offline and serves with gunicorn on the run image", async () => {
    cold = await h.build({ buildpackDir, appDir: app("python-flask"), mounts, configVars });
    console.log(`flask cold compile: ${cold.compile?.ms} ms\n${cold.compile?.output}`);
    expect(cold.ok, cold.compile?.output).toBe(true);
    expect(cold.compile!.output).toMatch(/Successfully installed .*flask-3\.1\.1/i);
    expect(cold.compile!.output).toMatch(/Successfully installed .*gunicorn-23/i);
    const page = await h.boot(cold);
    expect(page.status, page.log).toBe(200);
    expect(page.body).toBe("hello from python-flask (Flask 3.1.1)\n");
    expect(page.log).toContain("Booting worker");
  });

  it("rebuilds with unchanged requirements from the cache, much faster", async () => {
    const warm = await h.build({ buildpackDir, appDir: app("python-flask"), mounts, configVars, cacheFrom: cold });
    console.log(`flask warm compile: ${warm.compile?.ms} ms (cold ${cold.compile?.ms} ms)\n${warm.compile?.output}`);
    expect(warm.ok, warm.compile?.output).toBe(true);
    expect(warm.compile!.output).toContain("-----> Restoring cache");
    expect(warm.compile!.output).toContain("Skipping the dependency install: the cached packages match requirements.txt");
    expect(warm.compile!.ms * 2).toBeLessThan(cold.compile!.ms);
    const page = await h.boot(warm, { path: "/health" });
    expect(page.status, page.log).toBe(200);
    expect(page.body).toContain('"status":"ok"');
  });

  it("reinstalls when requirements.txt changes, saying why", async () => {
    const changed = await h.build({
      buildpackDir,
      appDir: app("python-flask"),
      mounts,
      configVars,
      cacheFrom: cold,
      files: { "requirements.txt": "flask==3.1.1\ngunicorn>=23\nwhitenoise\n" },
    });
    expect(changed.ok, changed.compile?.output).toBe(true);
    expect(changed.compile!.output).toContain("-----> Discarding cache since:\n       - The contents of requirements.txt changed");
    expect(changed.compile!.output).toMatch(/Successfully installed .*whitenoise/);
  });
});

describe("python buildpack: Django", () => {
  it("collects static files into the slug and serves them with gunicorn", async () => {
    const build = await h.build({ buildpackDir, appDir: app("python-django"), mounts, configVars });
    console.log(build.compile?.output);
    expect(build.ok, build.compile?.output).toBe(true);
    expect(build.compile!.output).toContain("-----> $ python manage.py collectstatic --noinput");
    expect(build.compile!.output).toMatch(/\d+ static files copied/);
    const files = await h.listSlug(build);
    expect(files).toContain("staticfiles/admin/css/base.css");
    expect(files).toContain("staticfiles/admin/js/vendor/jquery/jquery.js");
    const page = await h.boot(build);
    expect(page.status, page.log).toBe(200);
    expect(page.body).toMatch(/^hello from python-django \(Django 4\.2\.\d+\)/);
    const css = await h.boot(build, { path: "/static/admin/css/base.css" });
    expect(css.status, css.log).toBe(200);
  });

  it("gives a default web process when there is no Procfile", async () => {
    const build = await h.build({ buildpackDir, appDir: app("python-django"), mounts, configVars, omit: ["Procfile"] });
    expect(build.ok, build.compile?.output).toBe(true);
    expect(build.release?.yaml).toBe("---\ndefault_process_types:\n  web: gunicorn mysite.wsgi\n");
    expect(plain(build.compile!.output)).toContain("No Procfile found; using a default web process.");
    const page = await h.boot(build);
    expect(page.status, page.log).toBe(200);
  });

  it("skips collectstatic with DISABLE_COLLECTSTATIC", async () => {
    const build = await h.build({
      buildpackDir,
      appDir: app("python-django"),
      mounts,
      configVars: { ...configVars, DISABLE_COLLECTSTATIC: "1" },
    });
    expect(build.ok, build.compile?.output).toBe(true);
    expect(build.compile!.output).toContain("Skipping Django collectstatic since the env var DISABLE_COLLECTSTATIC is set.");
    expect(await h.listSlug(build)).not.toContain("staticfiles/admin/css/base.css");
  });

  it("fails the build with advice when collectstatic fails", async () => {
    const build = await h.build({
      buildpackDir,
      appDir: app("python-django"),
      mounts,
      configVars,
      // The settings can't be imported, so collectstatic fails.
      files: { "mysite/settings.py": "raise RuntimeError('settings are broken on purpose')\n" },
    });
    expect(build.compile?.code).toBe(1);
    expect(build.compile!.output).toContain("RuntimeError: settings are broken on purpose");
    expect(plain(build.compile!.output)).toContain("Error: Unable to generate Django static files.");
    expect(plain(build.compile!.output)).toContain("DISABLE_COLLECTSTATIC=1");
  });
});
