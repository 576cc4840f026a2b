import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runGitChecked } from "../../../src/gitcli/git.js";
import { CatFileBatchParser, readObjects } from "../../../src/gitcli/objects.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";

const OID = "1".repeat(40);

function parse(chunks: readonly Buffer[], maxBytes: number): ReturnType<CatFileBatchParser["objects"]> {
  const parser = new CatFileBatchParser(maxBytes);
  for (const c of chunks) parser.write(c);
  return parser.objects();
}

describe("CatFileBatchParser", () => {
  const output = Buffer.from(`${OID} blob 5\nhello\nHEAD:none missing\n${OID} blob 0\n\n${OID} commit 3\nabc\n`);

  it("parses objects and missing names, however the output is cut", () => {
    for (let cut = 1; cut < output.length; cut++) {
      const objects = parse([output.subarray(0, cut), output.subarray(cut)], 100);
      expect(objects.map((o) => o && [o.type, o.size, o.head.toString()])).toEqual([["blob", 5, "hello"], undefined, ["blob", 0, ""], ["commit", 3, "abc"]]);
    }
  });

  it("keeps only the first maxBytes of an object", () => {
    const [blob] = parse([output], 2);
    expect([blob?.size, blob?.head.toString()]).toEqual([5, "he"]);
  });

  it("refuses output that is not cat-file's", () => {
    expect(() => parse([Buffer.from("what is this\n")], 10)).toThrow(/unexpected line/);
    expect(() => parse([Buffer.from(`${OID} blob 5\nhel`)], 10)).toThrow(/ended inside an object/);
  });
});

describe("readObjects", () => {
  const dirs = tmpDirs();
  let gitDir: string;
  let commit: string;
  beforeAll(async () => {
    gitDir = path.join(await dirs.make("sf-objects-"), "app.git");
    await runGitChecked(["init", "--quiet", "--bare", gitDir]);
    const env = { GIT_DIR: gitDir, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@t", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@t" };
    const blob = (await runGitChecked(["hash-object", "-w", "--stdin"], { env, stdin: "web: run\n" })).stdout.trim();
    const tree = (await runGitChecked(["mktree"], { env, stdin: `100644 blob ${blob}\tProcfile\n` })).stdout.trim();
    commit = (await runGitChecked(["commit-tree", tree, "-m", "one"], { env })).stdout.trim();
  });
  afterAll(() => dirs.cleanup());

  it("reads several objects with one git, in the order asked", async () => {
    const [c, file, none] = await readObjects([commit, `${commit}:Procfile`, `${commit}:.buildpacks`], { env: { GIT_DIR: gitDir }, maxBytes: 1024 });
    expect(c?.type).toBe("commit");
    expect(file?.head.toString()).toBe("web: run\n");
    expect(none).toBeUndefined();
  });

  it("keeps maxBytes of an object whatever the answer's size (one past what is read whole is read again, streamed)", async () => {
    const env = { GIT_DIR: gitDir };
    const big = "x".repeat(6 * 1024 * 1024);
    const blob = (await runGitChecked(["hash-object", "-w", "--stdin"], { env, stdin: big })).stdout.trim();
    const [head, small] = await readObjects([blob, `${commit}:Procfile`], { env, maxBytes: 1024 });
    expect(head).toMatchObject({ oid: blob, type: "blob", size: big.length });
    expect(head?.head.length).toBe(1024);
    expect(small?.head.toString()).toBe("web: run\n");
  });

  it("refuses a name that would break the batch protocol", async () => {
    await expect(readObjects([`${commit}\nHEAD`], { env: { GIT_DIR: gitDir }, maxBytes: 10 })).rejects.toThrow(/not an object name/);
  });
});
