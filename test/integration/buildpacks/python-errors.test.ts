import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createSessionBuilds } from "../../helpers/python-builds.js";
import { failureReason } from "../../helpers/failure-reason.js";

// Python version selection and the errors that refuse an app before anything is installed. Each
// error must say what is wrong and what to do.
const root = path.resolve(import.meta.dirname, "../../..");
const buildpackDir = path.join(root, "buildpacks/python");
const h = createSessionBuilds();
afterAll(() => h.cleanup());

const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");
const plain = (s: string | undefined): string => (s ?? "").replace(ANSI, "");

const REQ = { "requirements.txt": "" };

describe("python buildpack: refused apps", () => {
  // [name, app files, what the error box says, its failure reason, options]
  const cases: Array<[string, Record<string, string>, string[], string, { stack?: string }?]> = [
    ["an invalid runtime.txt", { ...REQ, "runtime.txt": "3.13\n" }, ["Error: Invalid Python version in runtime.txt.", 'echo "3.13" > .python-version'], "runtime-txt::invalid-version"],
    ["a version the stack doesn't have", { ...REQ, ".python-version": "3.12\n" }, ["Error: The requested Python version isn't available.", "- 3.13 (Python 3.13."], "python-version::not-available"],
    ["an exact patch the stack doesn't have", { ...REQ, ".python-version": "3.13.0\n" }, ["Python 3.13.0 (from '.python-version') isn't provided"], "python-version::not-available"],
    ["an end-of-life version", { ...REQ, ".python-version": "3.9\n" }, ["Error: The requested Python version has reached end-of-life.", "- 3.13"], "python-version::eol"],
    ["an unknown future version", { ...REQ, ".python-version": "3.99\n" }, ["Error: The requested Python version isn't recognised."], "python-version::unknown"],
    ["an invalid .python-version", { ...REQ, ".python-version": "python 3.13\n" }, ["Error: Invalid Python version in .python-version.", "python 3.13"], "python-version-file::invalid-version"],
    ["a .python-version with a byte order mark", { ...REQ, ".python-version": "\ufeff3.13\n" }, ["Error: Unable to read .python-version."], "python-version-file::invalid-encoding"],
    ["two versions in .python-version", { ...REQ, ".python-version": "3.13\n3.12\n" }, ["Error: Multiple Python versions found in .python-version."], "python-version-file::multiple-versions"],
    ["an empty .python-version", { ...REQ, ".python-version": "# nothing\n\n" }, ["Error: No Python version found in .python-version."], "python-version-file::no-version"],
    ["a misspelled .python-version", { ...REQ, "python-version": "3.13\n" }, ["Error: Your .python-version file is spelled incorrectly.", "'python-version'"], "python-version-file::misspelled"],
    ["a Pipfile without Pipfile.lock", { Pipfile: "[packages]\n", ...REQ }, ["Error: No 'Pipfile.lock' found!", "pipenv lock"], "package-manager::pipenv-missing-lockfile"],
    [
      "several package managers",
      { ...REQ, "poetry.lock": "", "uv.lock": "" },
      ["Error: Multiple Python package manager files were found.", "requirements.txt (pip)", "poetry.lock (Poetry)", "uv.lock (uv)"],
      "package-manager::multiple-found",
    ],
    ["a setup.py without a package manager", { "setup.py": "" }, ["Error: Implicit setup.py file support has been sunset.", "--editable ."], "package-manager::setup-py-only"],
    ["a pyproject.toml without a lockfile", { "pyproject.toml": "" }, ["Error: Couldn't find any supported Python package manager files.", "pyproject.toml"], "package-manager::none-found"],
    ["a committed .heroku/python", { ...REQ, ".heroku/python/bin/python": "" }, ["Error: Existing '.heroku/python/' directory found.", "git rm -r --cached .heroku/"], "checks::existing-python-dir"],
    ["a committed virtualenv", { ...REQ, "venv/pyvenv.cfg": "home = /usr/bin\n" }, ["Error: Existing 'venv/' directory found.", "venv/pyvenv.cfg"], "checks::existing-venv-dir"],
    ["an unsupported stack", REQ, ["Error: The 'heroku-24' stack isn't supported by this buildpack.", "- debian-13"], "checks::stack::unsupported", { stack: "heroku-24" }],
  ];

  it.each(cases)("refuses %s", async (_name, files, messages, reason, opts) => {
    const build = await h.build({ buildpackDir, files, stack: opts?.stack });
    expect(build.detect.code).toBe(0);
    expect(build.compile?.code, build.compile?.output).toBe(1);
    const err = plain(build.compile!.output);
    for (const m of messages) expect(err).toContain(m);
    expect(failureReason(build.compile!.output), err).toBe(reason);
    expect(build.compile!.output).not.toContain("Installing Python");
  });
});

describe("python buildpack: Python version selection", () => {
  it("accepts runtime.txt with a deprecation warning", async () => {
    const build = await h.build({ buildpackDir, files: { ...REQ, "runtime.txt": "python-3.13\n" } });
    expect(build.ok, build.compile?.output).toBe(true);
    expect(build.compile!.output).toContain("-----> Using Python 3.13 specified in runtime.txt");
    expect(plain(build.compile!.output)).toContain("Warning: The runtime.txt file is deprecated.");
  });

  it("defaults to the newest the stack provides, with a warning, and then sticks to it", async () => {
    const first = await h.build({ buildpackDir, files: REQ });
    expect(first.ok, first.compile?.output).toBe(true);
    expect(first.compile!.output).toContain("-----> No Python version was specified. Using the buildpack default: Python 3.13");
    expect(plain(first.compile!.output)).toContain("Warning: No Python version was specified.");
    const second = await h.build({ buildpackDir, files: REQ, cacheFrom: first });
    expect(second.compile!.output).toContain("Using the same major version as the last build: Python 3.13");
  });

  it("takes an exact version that the stack has", async () => {
    const version = /Installing Python (3\.13\.\d+)/.exec((await h.build({ buildpackDir, files: REQ })).compile!.output)![1]!;
    const build = await h.build({ buildpackDir, files: { ...REQ, ".python-version": `${version}\n` } });
    expect(build.ok, build.compile?.output).toBe(true);
    expect(build.compile!.output).toContain(`-----> Using Python ${version} specified in .python-version`);
  });
});
