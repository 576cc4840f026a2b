import { randomBytes } from "node:crypto";
import { mkdir, readdir, stat } from "node:fs/promises";
import path from "node:path";
import { createFsSlugStore } from "../../../src/slug/fs-slug-store.js";
import { describe, expect, it } from "vitest";
import { bareRepoWithCommit, captureOutput, git, readSlug, slugFile, request, suiteTempDir, testService, writeFiles } from "./helpers.js";

describe("source and slug edges (real Docker, real git)", () => {
  const root = suiteTempDir();

  it("builds a commit that exists only in git's quarantine (pre-receive)", async () => {
    const base = await bareRepoWithCommit(`${root.dir}/q`, { "old.txt": "old" });
    const quarantine = path.join(base.gitDir, "objects", "incoming-test");
    await mkdir(quarantine, { recursive: true });
    const work = path.join(root.dir, "q", "work");
    await writeFiles(work, { RECORD: "", "new.txt": "pushed" });
    const env = {
      GIT_DIR: base.gitDir,
      GIT_WORK_TREE: work,
      GIT_INDEX_FILE: path.join(root.dir, "q", "index"),
      GIT_OBJECT_DIRECTORY: quarantine,
      GIT_ALTERNATE_OBJECT_DIRECTORIES: path.join(base.gitDir, "objects"),
    };
    git(["add", "-A"], env);
    const tree = git(["write-tree"], env).trim();
    const commit = git(["commit-tree", tree, "-p", base.commit, "-m", "pushed"], env).trim();
    expect(() => git(["cat-file", "-e", commit], { GIT_DIR: base.gitDir })).toThrow();

    const source = { gitDir: base.gitDir, objectDirectory: quarantine, alternateObjectDirectories: path.join(base.gitDir, "objects"), quarantinePath: quarantine };
    const out = captureOutput();
    const result = await testService(`${root.dir}/data`).build({ ...request("quarantined", base), commit, source }, out, new AbortController().signal);
    expect(result.error).toBeUndefined();
    const slug = await readSlug(slugFile(`${root.dir}/data`, result));
    expect(slug.get("./app/new.txt")?.content).toBe("pushed");
    expect(slug.get("./app/.record/env")?.content).toContain(`SOURCE_VERSION=${commit}\n`);
  });

  it("SLUG_TOO_LARGE rejects the build, keeps no slug and no cache", async () => {
    const data = `${root.dir}/data-large`;
    const repo = await bareRepoWithCommit(`${root.dir}/large`, { CACHE: "", "data.bin": randomBytes(20_000).toString("hex") });
    const out = captureOutput();
    const result = await testService(data, { env: { SLUGFORGE_MAX_SLUG_BYTES: "2KiB" } }).build(request("large", repo), out, new AbortController().signal);
    expect(result.error?.code).toBe("SLUG_TOO_LARGE");
    expect(result.error?.message).toMatch(/Compiled slug size: .* is too large \(max is 2K\)/);
    expect(out.text().trimEnd().split("\n").at(-1)).toContain(`Push rejected: SLUG_TOO_LARGE (build ${result.buildId})`);
    expect(await readdir(`${data}/slugs/sha256`)).toEqual([]);
    expect(await stat(`${data}/cache/large`).catch(() => undefined)).toBeUndefined();
  });

  it("hands the slug to a SlugStore when one is given; an over-size slug is never stored", async () => {
    const store = createFsSlugStore(`${root.dir}/store`);
    const repo = await bareRepoWithCommit(`${root.dir}/stored`, { RECORD: "", "Procfile": "web: python3 app.py\n" });
    const result = await testService(`${root.dir}/data-store`, { slugStore: store }).build(request("stored", repo), captureOutput(), new AbortController().signal);
    expect(result.error).toBeUndefined();
    expect(result.slug?.id).toBe(`sha256:${result.slug?.sha256}`);
    expect(await store.stat(result.slug!.id!)).toEqual({ id: result.slug!.id, sizeBytes: result.slug!.sizeBytes });

    const big = await bareRepoWithCommit(`${root.dir}/stored-big`, { RECORD: "", "data.bin": randomBytes(20_000).toString("hex") });
    const service = testService(`${root.dir}/data-store`, { slugStore: store, env: { SLUGFORGE_MAX_SLUG_BYTES: "2KiB" } });
    const rejected = await service.build(request("stored", big), captureOutput(), new AbortController().signal);
    expect(rejected.error?.code).toBe("SLUG_TOO_LARGE");
    expect((await store.list()).map((s) => s.id)).toEqual([result.slug!.id]);
  });
});
