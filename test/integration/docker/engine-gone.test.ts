import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDockerRuntime } from "../../../src/docker/dockerode-runtime.js";
import type { Container } from "../../../src/docker/container-runtime.js";

/**
 * An engine that stops answering just after an exec ended with a signal's code: what a stopping
 * dockerd does (it kills its containers and closes its API, in either order). The runtime talks
 * to the real engine through a socket of ours that passes everything until the exec's exit code
 * has been read, then refuses every request, as a closed API does.
 */
const direct = createDockerRuntime();
const labels = { "org.slugforge.test-engine-gone": String(process.pid) };

interface Gate {
  readonly url: string;
  /** From the next request on, or once a request's line matches `after` has passed: every request refused. */
  closeAfter(after: RegExp): void;
  reopen(): void;
  close(): Promise<void>;
}

async function gate(dir: string): Promise<Gate> {
  const sock = path.join(dir, "g.sock");
  let after: RegExp | undefined;
  let closed = false;
  const clients = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (closed) return client.destroy();
    clients.add(client);
    const engine = net.connect("/var/run/docker.sock");
    const end = (): void => {
      clients.delete(client);
      client.destroy();
      engine.destroy();
    };
    client.on("error", end).on("close", end);
    engine.on("error", end).on("close", end);
    client.on("data", (chunk: Buffer) => {
      // A request on a kept-alive connection once the gate is shut: refused as a closed API would.
      const line = /^(GET|POST|PUT|DELETE|HEAD) (\S+) HTTP\/1\.1\r\n/.exec(chunk.toString("latin1"));
      if (closed && line) return end();
      if (line && after?.test(line[2]!)) closed = true;
      engine.write(chunk);
    });
    engine.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  return {
    url: `unix://${sock}`,
    closeAfter(pattern) {
      after = pattern;
    },
    reopen() {
      after = undefined;
      closed = false;
    },
    async close() {
      for (const c of clients) c.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe("an engine that stops answering under an exec", () => {
  let dir: string;
  let through: Gate;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "sf-gone-"));
    through = await gate(dir);
  });
  afterAll(async () => {
    for (const id of await direct.listContainers(`org.slugforge.test-engine-gone=${process.pid}`)) await direct.removeContainer(id);
    await through.close();
    await rm(dir, { recursive: true, force: true });
  });

  const started = async (): Promise<Container> => {
    through.reopen();
    return createDockerRuntime({ dockerHost: through.url }).start({ image: "slugforge/stack:debian-13-run", network: "none", labels });
  };

  it("a program killed by a signal in a container that still runs: its code, the engine answering", async () => {
    const container = await started();
    expect(await container.exec(["sh", "-c", "kill -KILL $$"])).toBe(137);
    await container.remove();
  });

  it("the same exit with the engine gone right after: DOCKER_UNAVAILABLE, never the program's 137", async () => {
    const container = await started();
    // The exec's exit code is read, then the engine answers nothing more.
    through.closeAfter(/\/exec\/[0-9a-f]+\/json$/);
    await expect(container.exec(["sh", "-c", "kill -KILL $$"])).rejects.toMatchObject({ code: "DOCKER_UNAVAILABLE" });
  });

  it("an exec the engine cuts and then stops answering: DOCKER_UNAVAILABLE, not the socket's error", async () => {
    const container = await started();
    through.closeAfter(/\/exec\/[0-9a-f]+\/start$/);
    await expect(container.exec(["sh", "-c", "exit 0"])).rejects.toMatchObject({ code: "DOCKER_UNAVAILABLE" });
  });
});
