import { spawn } from "node:child_process";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { createDockerRuntime } from "../../../src/docker/dockerode-runtime.js";
import { OWNER_LABEL, ownerGone, processOwner } from "../../../src/docker/owner.js";

const REPO = path.resolve(import.meta.dirname, "../../..");
const runtime = createDockerRuntime();

describe("container owners", () => {
  it("knows this process is alive, a dead pid is gone, and another machine's or pid namespace's owner cannot be judged", () => {
    const me = processOwner();
    expect(ownerGone(me)).toBe(false);
    const [boot, ns, , start] = me.split("/");
    expect(ownerGone(`${boot}/${ns}/999999999/${start}`)).toBe(true);
    // The same pid started at another time is another process.
    expect(ownerGone(`${boot}/${ns}/${process.pid}/1`)).toBe(true);
    expect(ownerGone(`00000000-0000-0000-0000-000000000000/${ns}/${process.pid}/${start}`)).toBe(false);
    // A process in a container (or, seen from one, on the host): its pids are not ours to look up.
    expect(ownerGone(`${boot}/1/999999999/${start}`)).toBe(false);
    // Labels from before the namespace was in them were written on the host.
    expect(ownerGone(`${boot}/999999999/${start}`)).toBe(ns === "4026531836");
    expect(ownerGone("garbage")).toBe(false);
  });

  it("a process killed with SIGKILL leaves no running container, and the next sweep removes what it had only created", async () => {
    const label = `org.slugforge.test-owner=${process.pid}-${Date.now()}`;
    // The compiled runtime in a process of its own: one idle running container, one only created.
    const script = `
      const { createDockerRuntime } = await import(${JSON.stringify(path.join(REPO, "dist/docker/dockerode-runtime.js"))});
      const runtime = createDockerRuntime();
      const spec = { image: "slugforge/stack:debian-13-run", network: "none", labels: { "org.slugforge.test-owner": ${JSON.stringify(label.split("=")[1])} } };
      await runtime.start(spec);
      await runtime.create(spec);
      console.log("ready");
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (b: Buffer) => b.toString().includes("ready") && resolve());
      child.on("exit", (code) => reject(new Error(`the owner exited early (${code})`)));
    });
    expect(await runtime.listContainers(label)).toHaveLength(2);
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    // The running one ends with its owner (its stdin closes) and the engine removes it.
    for (let i = 0; i < 100 && (await runtime.listContainers(label)).length > 1; i++) await sleep(100);
    expect(await runtime.listContainers(label)).toHaveLength(1);
    // The created one has no process to end: any later slugforge process sweeps it.
    expect(await runtime.sweepOrphans()).toBeGreaterThanOrEqual(1);
    expect(await runtime.listContainers(label)).toEqual([]);
  });

  it("labels every container it makes with its owner, and leaves a live owner's containers alone", async () => {
    const container = await runtime.start({ image: "slugforge/stack:debian-13-run", network: "none", labels: { "org.slugforge.test-live": "1" } });
    try {
      expect(await runtime.listContainers(`${OWNER_LABEL}=${processOwner()}`)).toContain(container.id);
      await runtime.sweepOrphans();
      expect(await runtime.listContainers(`${OWNER_LABEL}=${processOwner()}`)).toContain(container.id);
      expect(await container.exec(["true"])).toBe(0);
    } finally {
      await container.remove();
    }
  });
});
