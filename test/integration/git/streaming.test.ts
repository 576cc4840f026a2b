import fs from "node:fs";
import git from "isomorphic-git";
import gitHttp from "isomorphic-git/http/node";
import { describe, expect, it } from "vitest";
import { TEST_TOKEN } from "../../helpers/git-server.js";
import { gitTestBed } from "../../helpers/git-test-bed.js";

// A short bridge keepalive so the 30 s test also exercises it; git's own keepalive covers the client.
const bed = gitTestBed({ keepAliveMs: 5000 });
const { builder, client, dirs } = bed;

/** `main` pushed by isomorphic-git (the git client a JavaScript CI tool would use). */
function isoPush(app: string, dir: string, onMessage?: (message: string) => void): ReturnType<typeof git.push> {
  return git.push({
    fs,
    http: gitHttp,
    dir,
    url: `http://127.0.0.1:${bed.server.port}/${app}.git`,
    ref: "main",
    remoteRef: "main",
    onAuth: () => ({ username: "git", password: TEST_TOKEN }),
    onMessage,
  });
}

describe("build output", () => {
  it("streams live: the first line arrives seconds before the push ends", async () => {
    builder.plan = { steps: ["-----> step one", { sleepMs: 3000 }, "-----> step two"] };
    const work = await dirs.make();
    await client.initRepo(work);
    const run = client.spawnTimed(["push", "--progress", bed.server.url("live-app"), "HEAD:main"], work);
    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    const first = run.lines.find((l) => l.text.includes("step one"));
    const second = run.lines.find((l) => l.text.includes("step two"));
    expect(first).toBeDefined();
    expect(second).toBeDefined();
    expect(result.ms - first!.t).toBeGreaterThanOrEqual(2000);
    expect(second!.t - first!.t).toBeGreaterThanOrEqual(2500);
  });

  it("carries \\r progress, ANSI and a line over 64 KiB intact", async () => {
    const long = "x".repeat(70_000);
    builder.plan = { steps: ["progress 1%\rprogress 100%", "\u001b[1;32mgreen\u001b[0m ✓", long] };
    const work = await dirs.make();
    await client.initRepo(work);
    const push = await client.run(["push", bed.server.url("bytes-app"), "HEAD:main"], work);
    expect(push.code, push.stderr).toBe(0);
    expect(push.stderr).toContain("progress 100%");
    expect(push.stderr).toContain("\u001b[1;32mgreen\u001b[0m ✓");
    // The shim once lost the tail of output over 64 KiB (exit before stdout drained): all bytes must arrive.
    const flat = push.stderr.replace(/remote: /g, "").replace(/\s/g, "");
    expect(flat).toContain(long);
  });
});

describe("a build silent for 30 s", () => {
  it("succeeds with the git CLI", async () => {
    builder.plan = { steps: ["-----> thinking", { sleepMs: 30_000 }, "-----> done"] };
    const work = await dirs.make();
    const head = await client.initRepo(work);
    const push = await client.run(["push", bed.server.url("silent-cli"), "HEAD:main"], work);
    expect(push.code, push.stderr).toBe(0);
    expect(push.stderr).toContain("-----> done");
    expect(await bed.serverRef("silent-cli")).toBe(head);
  }, 90_000);

  it("succeeds with isomorphic-git (keepalive under its 5 s socket timeout)", async () => {
    builder.plan = { steps: ["-----> thinking", { sleepMs: 30_000 }, "-----> done"] };
    const work = await dirs.make();
    const head = await client.initRepo(work);
    const messages: string[] = [];
    const result = await isoPush("silent-iso", work, (m) => void messages.push(m));
    expect(result.ok).toBe(true);
    expect(result.refs["refs/heads/main"]?.ok).toBe(true);
    expect(messages.join("")).toContain("-----> done");
    expect(await bed.serverRef("silent-iso")).toBe(head);
  }, 90_000);

  it("isomorphic-git sees a failed build as a per-ref error", async () => {
    builder.plan = { steps: ["-----> compiling"], fail: { code: "COMPILE_FAILED", message: "nope" } };
    const work = await dirs.make();
    await client.initRepo(work);
    const push = isoPush("iso-fail", work);
    await expect(push).rejects.toMatchObject({ code: "GitPushError", data: { result: { refs: { "refs/heads/main": { ok: false, error: "pre-receive hook declined" } } } } });
  });
});
