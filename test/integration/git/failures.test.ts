import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { FLUSH_PKT, writePktLine } from "../../../src/git/pkt-line.js";
import { processGroupAlive } from "../../../src/util/process-group.js";
import { startGitServer, TEST_TOKEN } from "../../helpers/git-server.js";
import { gitTestBed } from "../../helpers/git-test-bed.js";
import { until } from "../../helpers/until.js";

const bed = gitTestBed({ maxPushBytes: 2 * 1024 * 1024 });
const { builder, client, dirs } = bed;
const ZERO = "0".repeat(40);

/** Every git process group we saw while `during` ran, sampled until it settles. */
function watchGroups(): { seen: Set<number>; stop(): void } {
  const seen = new Set<number>();
  const timer = setInterval(() => bed.server.handler.activeProcesses().forEach((p) => seen.add(p)), 20);
  return { seen, stop: () => clearInterval(timer) };
}

async function expectClean(app: string, groups: Set<number>): Promise<void> {
  await bed.settled(app, groups);
  const health = await fetch(`http://127.0.0.1:${bed.server.port}/healthz`);
  expect(health.status).toBe(200);
}

async function deployed(app: string): Promise<{ work: string; head: string }> {
  builder.plan = { steps: ["ok"] };
  return bed.deployed(app);
}

describe("clients that go away", () => {
  it("a raw client that aborts mid-pack: git killed, quarantine swept, server up", async () => {
    const { work, head } = await deployed("abort-raw");
    const next = await client.commit(work, "half.bin", randomBytes(1536 * 1024), "half");
    const fullPack = execFileSync("git", ["pack-objects", "--stdout", "--revs"], { cwd: work, input: `${next}\n^${head}\n`, env: client.env, maxBuffer: 64 * 1024 * 1024 });
    const watch = watchGroups();
    const socket = net.connect(bed.server.port, "127.0.0.1");
    await new Promise((r) => socket.once("connect", r));
    const auth = Buffer.from(`git:${TEST_TOKEN}`).toString("base64");
    socket.write(
      "POST /abort-raw.git/git-receive-pack HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " + auth +
        "\r\nContent-Type: application/x-git-receive-pack-request\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    const commands = Buffer.concat([writePktLine(`${head} ${next} refs/heads/main\0report-status side-band-64k\n`), FLUSH_PKT]);
    // Half of a real pack, then silence: git is mid-way through receiving it.
    const body = Buffer.concat([commands, fullPack.subarray(0, fullPack.length >> 1)]);
    socket.write(`${body.length.toString(16)}\r\n`);
    socket.write(body);
    // receive-pack's group is sampled every 20 ms (its pid comes from the process helper a moment after the start).
    await until(async () => (await bed.quarantines("abort-raw")).length > 0 && watch.seen.size > 0);
    socket.destroy();
    watch.stop();
    expect(watch.seen.size).toBeGreaterThan(0);
    await expectClean("abort-raw", watch.seen);
    expect(await bed.serverRef("abort-raw")).toBe(head);
  });

  it("git killed (process group) mid-upload: server healthy, no stray git, ref unchanged", async () => {
    const { work, head } = await deployed("abort-upload");
    await client.commit(work, "big.bin", randomBytes(60 * 1024 * 1024), "big");
    builder.plan = { steps: ["-----> building", { sleepMs: 20_000 }] };
    const watch = watchGroups();
    // No maxPushBytes trip here: this app's server allows 2 MiB, so use a second server with room.
    const roomy = await startGitServer(await dirs.make(), builder, { maxPushBytes: 1024 * 1024 * 1024 });
    try {
      await client.ok(["push", "-q", roomy.url("abort-upload"), `${head}:refs/heads/main`], work);
      const sample = setInterval(() => roomy.handler.activeProcesses().forEach((p) => watch.seen.add(p)), 20);
      const run = client.spawnTimed(["push", roomy.url("abort-upload"), "HEAD:main"], work);
      const incoming = async (): Promise<boolean> =>
        (await readdir(path.join(roomy.reposDir, "abort-upload.git", "objects"))).some((n) => n.startsWith("tmp_objdir"));
      await until(incoming);
      run.interrupt("SIGINT");
      await run.done;
      clearInterval(sample);
      watch.stop();
      await until(() => roomy.handler.activeProcesses().length === 0);
      await until(() => [...watch.seen].every((g) => !processGroupAlive(g)), 5000);
      await until(async () => !(await incoming()), 5000);
      const ref = await client.ok(["--git-dir", path.join(roomy.reposDir, "abort-upload.git"), "rev-parse", "refs/heads/main"], work);
      expect(ref).toBe(head);
      expect((await fetch(`http://127.0.0.1:${roomy.port}/healthz`)).status).toBe(200);
    } finally {
      await roomy.close();
    }
  }, 60_000);

  it("git killed mid-build: the build is cancelled, the ref unchanged, the lock freed", async () => {
    const { work, head } = await deployed("abort-build");
    await client.commit(work, "c.txt", "c\n", "cancel me");
    builder.plan = { steps: ["-----> started", { sleepMs: 20_000 }, "-----> should never print"] };
    const before = builder.builds.length;
    const watch = watchGroups();
    const run = client.spawnTimed(["push", "--progress", bed.server.url("abort-build"), "HEAD:main"], work);
    await until(() => run.lines.some((l) => l.text.includes("-----> started")));
    run.interrupt("SIGINT");
    await run.done;
    await until(() => builder.builds[before]?.result !== undefined, 5000);
    expect(builder.builds[before]!.result!.status).toBe("cancelled");
    watch.stop();
    await expectClean("abort-build", watch.seen);
    expect(await bed.serverRef("abort-build")).toBe(head);
    expect(bed.server.bridge.locks.depth("abort-build")).toBe(0);
    builder.plan = { steps: ["-----> again"] };
    const again = await client.run(["push", bed.server.url("abort-build"), "HEAD:main"], work);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toContain("Waiting");
  }, 60_000);

  it("a garbage POST then a disconnect leaves the server up", async () => {
    const socket = net.connect(bed.server.port, "127.0.0.1");
    await new Promise((r) => socket.once("connect", r));
    socket.write("POST /abort-raw.git/git-receive-pack HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nhello");
    await new Promise((r) => setTimeout(r, 200));
    socket.destroy();
    expect((await fetch(`http://127.0.0.1:${bed.server.port}/healthz`)).status).toBe(200);
  });
});

describe("limits", () => {
  it("a push over maxPushBytes is refused with PUSH_TOO_LARGE and the server stays up", async () => {
    const { work, head } = await deployed("too-large");
    await client.commit(work, "huge.bin", randomBytes(4 * 1024 * 1024), "huge");
    const before = builder.builds.length;
    const watch = watchGroups();
    const push = await client.run(["push", bed.server.url("too-large"), "HEAD:main"], work);
    watch.stop();
    expect(push.code).not.toBe(0);
    expect(push.stderr).toContain("PUSH_TOO_LARGE");
    expect(push.stderr).toContain("SLUGFORGE_MAX_PUSH_BYTES");
    expect(builder.builds.length).toBe(before);
    await expectClean("too-large", watch.seen);
    expect(await bed.serverRef("too-large")).toBe(head);
    const small = await dirs.make();
    await client.initRepo(small);
    expect((await client.run(["push", bed.server.url("after-large"), "HEAD:main"], small)).code).toBe(0);
  });

  it("the hook fails fast with a clear message when the bridge is down", async () => {
    const { runProcess } = await import("../../../src/util/run-process.js");
    const hook = path.join(bed.server.dataDir, "hooks", "pre-receive");
    const started = Date.now();
    const r = await runProcess(hook, [], {
      stdin: `${ZERO} ${"1".repeat(40)} refs/heads/main\n`,
      env: { PATH: process.env.PATH, SLUGFORGE_HOOK_SOCKET: path.join(bed.server.dataDir, "nope.sock"), SLUGFORGE_PUSH_TOKEN: "x", SLUGFORGE_APP: "x" },
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("cannot reach the build server");
    expect(Date.now() - started).toBeLessThan(5000);
    const noEnv = await runProcess(hook, [], { stdin: "", env: { PATH: process.env.PATH } });
    expect(noEnv.code).toBe(1);
  });

  it("the hook gives up on a bridge that stops answering", async () => {
    const { runProcess } = await import("../../../src/util/run-process.js");
    const socketPath = path.join(bed.server.dataDir, "silent.sock");
    const silent = net.createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(socketPath, () => r()));
    try {
      const started = Date.now();
      const r = await runProcess(path.join(bed.server.dataDir, "hooks", "pre-receive"), [], {
        stdin: `${ZERO} ${"1".repeat(40)} refs/heads/main\n`,
        env: { PATH: process.env.PATH, SLUGFORGE_HOOK_SOCKET: socketPath, SLUGFORGE_PUSH_TOKEN: "x", SLUGFORGE_APP: "x", SLUGFORGE_HOOK_IDLE_TIMEOUT_MS: "500" },
      });
      expect(r.code).toBe(1);
      expect(r.stdout).toContain("stopped answering");
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      silent.close();
    }
  });

  it("the hook with a forged token is refused", async () => {
    const { runProcess } = await import("../../../src/util/run-process.js");
    const r = await runProcess(path.join(bed.server.dataDir, "hooks", "pre-receive"), [], {
      stdin: `${ZERO} ${"1".repeat(40)} refs/heads/main\n`,
      env: { PATH: process.env.PATH, SLUGFORGE_HOOK_SOCKET: bed.server.bridge.socketPath, SLUGFORGE_PUSH_TOKEN: "forged", SLUGFORGE_APP: "too-large" },
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("unknown or finished push");
  });
});
