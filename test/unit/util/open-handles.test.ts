import { spawn } from "node:child_process";
import net from "node:net";
import { describe, expect, it } from "vitest";
import { openHandles } from "../../../src/util/open-handles.js";

describe("openHandles", () => {
  it("names a child process by its command line, a server by its address and a timer by its kind", async () => {
    const child = spawn("sleep", ["30"]);
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const timer = setTimeout(() => undefined, 60_000);
    try {
      const said = openHandles();
      expect(said).toContain(`child process ${child.pid} (sleep 30)`);
      expect(said.some((s) => s.startsWith("server on ") && s.includes(String((server.address() as net.AddressInfo).port)))).toBe(true);
      expect(said).toContain("Timeout");
    } finally {
      clearTimeout(timer);
      child.kill();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
