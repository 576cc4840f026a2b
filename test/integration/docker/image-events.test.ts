import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { createDockerRuntime } from "../../../src/docker/dockerode-runtime.js";

const runtime = createDockerRuntime();

/** Resolves once `check` is true, or fails after `ms`. */
async function eventually(check: () => boolean, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error("timed out");
    await sleep(20);
  }
}

describe("the engine's image events", () => {
  it("tells a watcher of an image made and removed by the engine, and ends once on close", { timeout: 60_000 }, async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "sf-image-events-"));
    const ref = `slugforge-test/image-events:${process.pid}-${Date.now()}`;
    try {
      await writeFile(path.join(dir, "hello"), "a tiny image\n");
      let changes = 0;
      let ends = 0;
      const watch = await runtime.watchImages!({ onChange: () => (changes += 1), onEnd: () => (ends += 1) });
      // What the engine replays of the last minute comes first; then nothing until our change.
      await sleep(300);
      const before = changes;
      const tar = spawn("tar", ["-cf", "-", "-C", dir, "."], { stdio: ["ignore", "pipe", "inherit"] });
      await runtime.importImage(tar.stdout, ref, {});
      await eventually(() => changes > before);
      const imported = changes;
      await runtime.removeImage(ref);
      await eventually(() => changes > imported);
      watch.close();
      watch.close();
      expect(ends).toBe(1);
      const closed = changes;
      await sleep(100);
      expect(changes).toBe(closed);
    } finally {
      await runtime.removeImage(ref).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
