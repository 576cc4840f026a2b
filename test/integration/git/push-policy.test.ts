import path from "node:path";
import { describe, expect, it } from "vitest";
import { lastRemoteLine } from "../../helpers/git-client.js";
import { gitTestBed } from "../../helpers/git-test-bed.js";

const bed = gitTestBed({ plan: { steps: ["built"] } });
const { builder, client, dirs } = bed;

async function serverRefs(app: string): Promise<string> {
  return client.ok(["--git-dir", bed.gitDir(app), "for-each-ref", "--format=%(refname) %(objectname)"], bed.server.dataDir);
}

describe("ref policy", () => {
  it("refuses another branch and says how to deploy it", async () => {
    const { work, head } = await bed.deployed("branch-app");
    await client.ok(["checkout", "-q", "-b", "feature"], work);
    await client.commit(work, "f.txt", "f\n", "feature");
    const before = builder.builds.length;
    const push = await client.run(["push", bed.server.url("branch-app"), "feature"], work);
    expect(push.code).toBe(1);
    expect(push.stderr).toContain("Branch feature does not deploy: only main builds");
    expect(push.stderr).toContain("git push <remote> feature:main");
    expect(lastRemoteLine(push.stderr)).toMatch(/^remote: !\s+BRANCH_NOT_DEPLOYABLE: nothing was updated; /);
    expect(push.stderr).toContain("! [remote rejected] feature -> feature (pre-receive hook declined)");
    expect(builder.builds.length).toBe(before);
    expect(await serverRefs("branch-app")).toBe(`refs/heads/main ${head}`);
  });

  it("refuses a tag, and a mixed push of main plus a tag updates nothing", async () => {
    const { work, head } = await bed.deployed("tag-app");
    await client.ok(["tag", "v1"], work);
    const tag = await client.run(["push", bed.server.url("tag-app"), "v1"], work);
    expect(tag.code).toBe(1);
    expect(tag.stderr).toContain("Tag v1 was not pushed");
    expect(lastRemoteLine(tag.stderr)).toMatch(/^remote: !\s+BRANCH_NOT_DEPLOYABLE: /);
    const next = await client.commit(work, "n.txt", "n\n", "next");
    await client.ok(["tag", "v2"], work);
    const before = builder.builds.length;
    const mixed = await client.run(["push", bed.server.url("tag-app"), "HEAD:main", "v2"], work);
    expect(mixed.code).toBe(1);
    expect(mixed.stderr).toContain("Tag v2 was not pushed");
    expect(builder.builds.length).toBe(before);
    expect(await serverRefs("tag-app")).toBe(`refs/heads/main ${head}`);
    expect(next).not.toBe(head);
  });

  it("refuses refs/notes and refs/for pushes cleanly, without hanging", async () => {
    const { work, head } = await bed.deployed("notes-app");
    for (const ref of ["refs/notes/x", "refs/for/main"]) {
      const push = await client.run(["push", bed.server.url("notes-app"), `HEAD:${ref}`], work);
      expect(push.code).toBe(1);
      expect(push.stderr).toContain("does not deploy");
    }
    expect(await serverRefs("notes-app")).toBe(`refs/heads/main ${head}`);
  });

  it("allows a force push to main (as Heroku does) and builds it", async () => {
    const { work } = await bed.deployed("force-app");
    await client.ok(["commit", "-q", "--amend", "-m", "rewritten"], work);
    const rewritten = await client.ok(["rev-parse", "HEAD"], work);
    const plain = await client.run(["push", bed.server.url("force-app"), "HEAD:main"], work);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain("non-fast-forward");
    const forced = await client.run(["push", "--force", bed.server.url("force-app"), "HEAD:main"], work);
    expect(forced.code, forced.stderr).toBe(0);
    expect(builder.builds.at(-1)!.request.commit).toBe(rewritten);
    expect(await serverRefs("force-app")).toBe(`refs/heads/main ${rewritten}`);
  });

  it("refuses deleting main", async () => {
    const { work, head } = await bed.deployed("delete-app");
    const push = await client.run(["push", bed.server.url("delete-app"), ":main"], work);
    expect(push.code).toBe(1);
    // receive.denyDeletes answers before the hook runs.
    expect(push.stderr).toMatch(/deletion prohibited|not allowed/);
    expect(await serverRefs("delete-app")).toBe(`refs/heads/main ${head}`);
  });

  it("a repo that uses master deploys master and refuses main", async () => {
    const work = await dirs.make();
    const head = await client.initRepo(work, "master");
    const first = await client.run(["push", bed.server.url("master-app"), "master"], work);
    expect(first.code, first.stderr).toBe(0);
    expect(builder.builds.at(-1)!.request.ref).toBe("refs/heads/master");
    const main = await client.run(["push", bed.server.url("master-app"), "master:main"], work);
    expect(main.code).toBe(1);
    expect(main.stderr).toContain("only master builds");
    expect(await serverRefs("master-app")).toBe(`refs/heads/master ${head}`);
    const clone = path.join(await dirs.make(), "clone");
    const cloned = await client.run(["clone", bed.server.url("master-app"), clone], bed.server.dataDir);
    expect(cloned.stderr).not.toContain("warning");
    expect(await client.ok(["rev-parse", "HEAD"], clone)).toBe(head);
  });

  it("push options reach the builder; a shallow clone can push", async () => {
    const { work } = await bed.deployed("opts-app");
    await client.commit(work, "o.txt", "o\n", "opts");
    const push = await client.run(["push", "-o", "verbose=1", "-o", "clear cache", bed.server.url("opts-app"), "HEAD:main"], work);
    expect(push.code, push.stderr).toBe(0);
    expect(builder.builds.at(-1)!.request.pushOptions).toEqual(["verbose=1", "clear cache"]);

    const shallow = path.join(await dirs.make(), "shallow");
    await client.ok(["clone", "-q", "--depth", "1", `file://${work}`, shallow], bed.server.dataDir);
    await client.commit(shallow, "s.txt", "s\n", "from shallow");
    const fresh = await client.run(["push", bed.server.url("shallow-app"), "HEAD:main"], shallow);
    expect(fresh.code, fresh.stderr).toBe(0);
  });
});
