import { describe, expect, it } from "vitest";
import { parseHookRequest } from "../../../src/git/hook-protocol.js";
import { PushCommandHead, pushTooLargeResult } from "../../../src/git/push-limit.js";
import { FLUSH_PKT, parsePktLines, writePktLine } from "../../../src/git/pkt-line.js";

const A = "a".repeat(40);
const B = "b".repeat(40);

describe("parseHookRequest", () => {
  it("accepts the shim's body", () => {
    const body = { app: "x1", cwd: "/r", refs: [{ old: A, new: B, ref: "refs/heads/main" }], pushOptions: ["k=v"], objectDirectory: "/r/objects/tmp" };
    expect(parseHookRequest(JSON.stringify(body))).toMatchObject(body);
  });
  it.each([
    "not json",
    "null",
    JSON.stringify({ app: "x1", cwd: "/r", refs: [{ old: "zz", new: B, ref: "refs/heads/main" }], pushOptions: [] }),
    JSON.stringify({ app: "x1", cwd: "/r", refs: [{ old: A, new: B, ref: "main" }], pushOptions: [] }),
    JSON.stringify({ app: "x1", cwd: "/r", refs: [], pushOptions: [1] }),
    JSON.stringify({ app: "x1", refs: [], pushOptions: [] }),
  ])("refuses %s", (raw) => expect(parseHookRequest(raw)).toBeUndefined());
});

describe("PUSH_TOO_LARGE result", () => {
  it("reads refs and capabilities across chunks and answers ng per ref on band 1, message on band 2", () => {
    const head = new PushCommandHead();
    const wire = Buffer.concat([writePktLine(`${A} ${B} refs/heads/main\0report-status side-band-64k quiet\n`), writePktLine(`${A} ${B} refs/tags/v1\n`), FLUSH_PKT, Buffer.from("PACK")]);
    head.push(wire.subarray(0, 30));
    head.push(wire.subarray(30));
    expect(head.refs).toEqual(["refs/heads/main", "refs/tags/v1"]);
    const { lines } = parsePktLines(pushTooLargeResult(head, 1024 * 1024));
    const band = (n: number): string =>
      lines.filter((l) => l.type === "data" && l.payload[0] === n).map((l) => (l.type === "data" ? l.payload.subarray(1).toString() : "")).join("");
    expect(band(2)).toContain("PUSH_TOO_LARGE");
    expect(band(2)).toContain("1 MiB");
    expect(band(1)).toContain("ng refs/heads/main PUSH_TOO_LARGE");
    expect(band(1)).toContain("ng refs/tags/v1 PUSH_TOO_LARGE");
    expect(lines.at(-1)).toEqual({ type: "flush" });
  });
});
