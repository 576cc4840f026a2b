import { spawn } from "node:child_process";
import http from "node:http";
import net from "node:net";
import { describe, expect, it } from "vitest";
import { markOpen, openHandles } from "../../../src/util/open-handles.js";

describe("openHandles", () => {
  it("names work marked open (an engine exec) until it is done", () => {
    const done = markOpen("exec 0123456789ab in container ba9876543210: tar -x -C /app");
    expect(openHandles().filter((s) => s.startsWith("open work: exec 0123456789ab in container ba9876543210: tar -x -C /app (since "))).toHaveLength(1);
    done();
    expect(openHandles().filter((s) => s.includes("0123456789ab"))).toEqual([]);
  });

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

  it("names a client's socket by the HTTP request it carries, and a server's by the server", async () => {
    const server = http.createServer(() => undefined);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as net.AddressInfo;
    const req = http.get({ host: "127.0.0.1", port, path: "/never-answered", agent: false });
    req.on("error", () => undefined);
    await new Promise<void>((resolve) => server.once("request", () => resolve()));
    try {
      const said = openHandles();
      expect(said.some((s) => s.includes(`socket to 127.0.0.1:${port}`) && s.includes("carrying GET /never-answered"))).toBe(true);
      expect(said.some((s) => s.includes(`accepted by the server on`) && s.includes(String(port)))).toBe(true);
    } finally {
      req.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
