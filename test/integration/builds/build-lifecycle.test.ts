import { describe, expect, it } from "vitest";
import { bareRepoWithCommit, buildContainers, captureOutput, request, runtime, suiteTempDir, testService } from "./helpers.js";

describe("build lifecycle: streaming, timeout, cancel, queue (real Docker)", () => {
  const root = suiteTempDir();

  it("streams compile output as it is produced, bytes intact", async () => {
    const repo = await bareRepoWithCommit(`${root.dir}/stream`, { SLOW: "3" });
    const out = captureOutput();
    const result = await testService(`${root.dir}/data`).build(request("streaming", repo), out, new AbortController().signal);
    const ended = Date.now();
    expect(result.status).toBe("succeeded");
    const first = out.chunks.find((c) => c.data.toString("utf8").includes("Starting slow compile"));
    expect(first).toBeDefined();
    expect(ended - first!.at).toBeGreaterThan(2500);
    const text = out.text();
    expect(text).toContain("       progress 50%\r       progress 100%\n");
    expect(text).toContain("       \u001b[1;32mgreen\u001b[0m café ✓\n");
    expect(text).toContain("       to stderr\n");
  });

  it("BUILD_TIMEOUT past the wall-clock limit, and the container is gone", async () => {
    const repo = await bareRepoWithCommit(`${root.dir}/timeout`, { SLOW: "60" });
    const out = captureOutput();
    const started = Date.now();
    const service = testService(`${root.dir}/data`, { env: { SLUGFORGE_BUILD_TIMEOUT: "4s" } });
    const result = await service.build(request("timeout", repo), out, new AbortController().signal);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(result.status).toBe("failed");
    expect(result.error?.code).toBe("BUILD_TIMEOUT");
    expect(out.text().trimEnd().split("\n").at(-1)).toContain(`Push rejected: BUILD_TIMEOUT (build ${result.buildId})`);
    expect(await buildContainers(result.buildId)).toEqual([]);
  });

  it("cancelling (the pusher went away) removes the container and reports BUILD_CANCELLED", async () => {
    const repo = await bareRepoWithCommit(`${root.dir}/cancel`, { SLOW: "60" });
    const controller = new AbortController();
    let buildId = "";
    const out = captureOutput();
    const watching = {
      write(chunk: string | Buffer) {
        out.write(chunk);
        const text = chunk.toString();
        buildId ||= /Build ([0-9a-f-]{36})/.exec(text)?.[1] ?? "";
        if (text.includes("Starting slow compile")) controller.abort();
      },
    };
    const started = Date.now();
    const result = await testService(`${root.dir}/data`).build(request("cancel", repo), watching, controller.signal);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(result.status).toBe("cancelled");
    expect(result.error?.code).toBe("BUILD_CANCELLED");
    expect(result.buildId).toBe(buildId);
    expect(await buildContainers(result.buildId)).toEqual([]);
  });

  it("tells the pusher it waits for a slot, and a build cancelled while waiting never starts", async () => {
    const service = testService(`${root.dir}/data`, { env: { SLUGFORGE_BUILD_CONCURRENCY: "1" } });
    const slow = await bareRepoWithCommit(`${root.dir}/q1`, { SLOW: "4" });
    const quick = await bareRepoWithCommit(`${root.dir}/q2`, { RECORD: "" });
    const first = service.build(request("queue-one", slow), captureOutput(), new AbortController().signal);
    await new Promise((r) => setTimeout(r, 200));
    const waitingOut = captureOutput();
    const second = service.build(request("queue-two", quick), waitingOut, new AbortController().signal);
    const cancelled = new AbortController();
    const thirdOut = captureOutput();
    const third = service.build(request("queue-three", quick), thirdOut, cancelled.signal);
    await new Promise((r) => setTimeout(r, 200));
    expect(service.stats()).toMatchObject({ running: 1, waiting: 2 });
    cancelled.abort();
    const thirdResult = await third;
    expect(thirdResult.error?.code).toBe("BUILD_CANCELLED");
    expect(thirdOut.text()).toContain("-----> Waiting for a build slot (2 builds ahead)");
    expect(waitingOut.text()).toContain("-----> Waiting for a build slot (1 build ahead)");
    expect((await first).status).toBe("succeeded");
    expect((await second).status).toBe("succeeded");
  });

  it("sweepStrayContainers removes this server's labelled build containers, not another's", async () => {
    const labels = (server: string): Record<string, string> => ({ "org.slugforge.build": `stray-${server}`, "org.slugforge.server": server });
    const mine = await runtime.start({ image: "slugforge/stack:debian-13-build", labels: labels("sweep-test-mine"), network: "none" });
    const theirs = await runtime.start({ image: "slugforge/stack:debian-13-build", labels: labels("sweep-test-theirs"), network: "none" });
    try {
      const service = testService(`${root.dir}/data`, { serverId: "sweep-test-mine" });
      expect(await service.sweepStrayContainers()).toBe(1);
      expect(await runtime.listContainers("org.slugforge.build=stray-sweep-test-mine")).toEqual([]);
      expect(await runtime.listContainers("org.slugforge.build=stray-sweep-test-theirs")).toEqual([theirs.id]);
    } finally {
      await mine.remove();
      await theirs.remove();
    }
  });
});
