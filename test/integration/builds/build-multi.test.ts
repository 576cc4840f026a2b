import { cp } from "node:fs/promises";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { FIXTURE_BUILDPACKS, bareRepoWithCommit, captureOutput, git, readSlug, slugFile, request, suiteTempDir, testService, writeFiles } from "./helpers.js";

describe("app-chosen buildpacks (real Docker, git buildpacks over file://)", () => {
  const root = suiteTempDir();
  let bpRepo: string;
  let v1: string;
  beforeAll(async () => {
    // A buildpack in git: VERSION 1 tagged v1, then VERSION 2 on main.
    bpRepo = path.join(root.dir, "versioned-buildpack");
    await cp(path.join(FIXTURE_BUILDPACKS, "versioned"), bpRepo, { recursive: true });
    git(["init", "--quiet", "--initial-branch=main", bpRepo]);
    const at = { GIT_DIR: `${bpRepo}/.git`, GIT_WORK_TREE: bpRepo };
    await writeFiles(bpRepo, { VERSION: "1\n" });
    git(["add", "-A"], at);
    git(["commit", "--quiet", "-m", "v1"], at);
    git(["tag", "v1"], at);
    v1 = git(["rev-parse", "HEAD"], at).trim();
    await writeFiles(bpRepo, { VERSION: "2\n" });
    git(["commit", "--quiet", "-am", "v2"], at);
  });

  it(".buildpacks runs several in order, sourcing each export before the next compile but not before release", async () => {
    const repo = await bareRepoWithCommit(`${root.dir}/multi`, { ".buildpacks": "# mine\nexporter\n\nrecorder\n", RECORD: "" });
    const out = captureOutput();
    const result = await testService(`${root.dir}/data`).build(request("multi", repo), out, new AbortController().signal);
    expect(result.error).toBeUndefined();
    const text = out.text();
    expect(text.indexOf("-----> Exporter app detected")).toBeLessThan(text.indexOf("-----> Recorder app detected"));
    const slug = await readSlug(slugFile(`${root.dir}/data`, result));
    const env = slug.get("./app/.record/env")!.content;
    expect(env).toContain("EXPORTED_FROM_FIRST=yes\n");
    expect(env).toMatch(/^PATH=\/app\/\.exporter\/bin:\/usr\/local\/sbin:/m);
    expect(slug.get("./app/.record/argv")!.content.split("\n")[0]).toBe("/tmp/buildpacks/1-recorder/bin/compile");
    // Release is the last buildpack's, without the export.
    expect(result.processTypes?.exported).toBe("echo unset");
  });

  it("a file:// git URL with #ref in .buildpacks uses that ref", async () => {
    const repo = await bareRepoWithCommit(`${root.dir}/ref`, { ".buildpacks": `file://${bpRepo}#v1\n` });
    const out = captureOutput();
    const result = await testService(`${root.dir}/data`).build(request("gitref", repo), out, new AbortController().signal);
    expect(result.error).toBeUndefined();
    expect(out.text()).toContain(`-----> Using buildpack file://${bpRepo}#v1 (${v1.slice(0, 7)})`);
    const slug = await readSlug(slugFile(`${root.dir}/data`, result));
    expect(slug.get("./app/buildpack-version")?.content).toBe("1\n");
  });

  it("BUILDPACK_URL (config var) wins over .buildpacks and follows the default branch", async () => {
    const repo = await bareRepoWithCommit(`${root.dir}/url`, { ".buildpacks": "never\n", RECORD: "" });
    const out = captureOutput();
    const service = testService(`${root.dir}/data`, { configVars: { BUILDPACK_URL: `file://${bpRepo}` } });
    const result = await service.build(request("bpurl", repo), out, new AbortController().signal);
    expect(result.error).toBeUndefined();
    expect(out.text()).toContain("-----> Versioned app detected");
    const slug = await readSlug(slugFile(`${root.dir}/data`, result));
    expect(slug.get("./app/buildpack-version")?.content).toBe("2\n");
  });

  it("BUILDPACK_NOT_FOUND for an unknown name, a missing repository, or a missing ref", async () => {
    const service = testService(`${root.dir}/data`);
    for (const [i, line] of ["no-such-buildpack", `file://${root.dir}/nope.git`, `file://${bpRepo}#no-such-tag`, "ssh://host/x.git"].entries()) {
      const repo = await bareRepoWithCommit(`${root.dir}/missing-${i}`, { ".buildpacks": `${line}\n` });
      const out = captureOutput();
      const result = await service.build(request("missing", repo), out, new AbortController().signal);
      expect(result.error?.code, line).toBe("BUILDPACK_NOT_FOUND");
      expect(out.text()).toContain(`Push rejected: BUILDPACK_NOT_FOUND (build ${result.buildId})`);
    }
  });

  it("an app cannot name a file:// buildpack outside SLUGFORGE_BUILDPACK_ROOTS (another app's repository, a host folder)", async () => {
    const service = testService(`${root.dir}/data-roots`, { env: { SLUGFORGE_BUILDPACK_ROOTS: `${root.dir}/no-buildpacks-here` } });
    for (const [i, url] of [`file://${bpRepo}`, `file://${root.dir}/nope.git`].entries()) {
      const repo = await bareRepoWithCommit(`${root.dir}/roots-${i}`, { ".buildpacks": `${url}\n` });
      const out = captureOutput();
      const result = await service.build(request("rooted", repo), out, new AbortController().signal);
      expect(result.error?.code, url).toBe("BUILDPACK_NOT_FOUND");
      expect(result.error?.message).toContain("SLUGFORGE_BUILDPACK_ROOTS");
      expect(out.text()).not.toContain("Versioned app detected");
    }
    await service.close();
  });
});
