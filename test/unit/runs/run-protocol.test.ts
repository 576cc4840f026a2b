import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { parseRunArgs } from "../../../src/cli/run-command.js";
import { decodeSpec, encodeSpec, exitFrame, FRAME, frame, FrameReader } from "../../../src/runs/run-protocol.js";

describe("slugforge run: its arguments and its wire", () => {
  it("takes its own options before or after the process type, and everything after -- as the command", () => {
    expect(parseRunArgs(["app", "web", "--port", "8080"])).toEqual({ app: "app", spec: { args: ["web"], port: 8080, release: undefined }, json: false });
    expect(parseRunArgs(["app", "--release", "v3", "--", "tool", "--port", "5"])).toEqual({ app: "app", spec: { args: ["tool", "--port", "5"], release: 3, port: undefined }, json: false });
    expect(parseRunArgs(["app", "ls", "-la"])).toMatchObject({ spec: { args: ["ls", "-la"] } });
    expect(parseRunArgs(["app", "--bogus", "x"])).toBe("unknown option --bogus (put the command after --)");
    expect(parseRunArgs(["app"])).toBe("name a process type or a command to run");
    expect(parseRunArgs(["app", "--release", "0x1", "true"])).toMatch(/--release takes a release/);
    expect(parseRunArgs(["app", "--port", "70000", "web"])).toMatch(/--port takes a port/);
  });

  it("round-trips the spec and refuses a bad one with a reason", () => {
    expect(decodeSpec(encodeSpec({ args: ["web"], release: 2, port: 8080, tty: false }))).toEqual({ args: ["web"], release: 2, port: 8080, tty: false });
    expect(decodeSpec(undefined)).toMatch(/x-slugforge-run header/);
    expect(decodeSpec(Buffer.from('{"args":[]}').toString("base64url"))).toBe("name a process type or a command to run");
    expect(decodeSpec(Buffer.from('{"args":["x"],"port":0}').toString("base64url"))).toBe("the port is 1 to 65535");
  });

  it("reads frames however the bytes are cut", async () => {
    const bytes = Buffer.concat([frame(FRAME.stdout, "out"), frame(FRAME.stderr, Buffer.from([0, 1, 2])), exitFrame(-3)]);
    for (let size = 1; size <= bytes.length; size++) {
      const chunks = [];
      for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
      const frames: { type: number; payload: Buffer }[] = [];
      for await (const f of Readable.from(chunks).pipe(new FrameReader())) frames.push(f as { type: number; payload: Buffer });
      expect(frames.map((f) => f.type)).toEqual([FRAME.stdout, FRAME.stderr, FRAME.exit]);
      expect(frames[0]!.payload.toString()).toBe("out");
      expect(frames[2]!.payload.readInt32BE(0)).toBe(-3);
    }
  });
});
