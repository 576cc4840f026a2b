import { describe, expect, it } from "vitest";
import { MAX_SIDEBAND_DATA, PktLineError, parsePktLines, writePktLine, writeSideband } from "../../../src/git/pkt-line.js";

describe("pkt-line", () => {
  it("counts bytes, not characters", () => {
    expect(writePktLine("a\n").toString()).toBe("0006a\n");
    const utf8 = writePktLine("✓ 構築\n");
    expect(utf8.subarray(0, 4).toString()).toBe((4 + Buffer.byteLength("✓ 構築\n")).toString(16).padStart(4, "0"));
  });

  it("round-trips data, flush, delim and end, keeping a split packet as rest", () => {
    const wire = Buffer.concat([writePktLine("one\n"), Buffer.from("0000"), Buffer.from("0001"), writePktLine("two"), Buffer.from("0002")]);
    const { lines, rest } = parsePktLines(Buffer.concat([wire, writePktLine("three").subarray(0, 6)]));
    expect(lines.map((l) => (l.type === "data" ? l.payload.toString() : l.type))).toEqual(["one\n", "flush", "delim", "two", "end"]);
    expect(rest.toString()).toBe("0009th");
  });

  it("stops at the first flush when asked, leaving the pack behind", () => {
    const wire = Buffer.concat([writePktLine("cmd"), Buffer.from("0000PACKxyz")]);
    const { lines, rest } = parsePktLines(wire, { untilFlush: true });
    expect(lines).toHaveLength(2);
    expect(rest.toString()).toBe("PACKxyz");
  });

  it("refuses bad lengths and oversize payloads", () => {
    expect(() => parsePktLines(Buffer.from("zzzz"))).toThrow(PktLineError);
    expect(() => parsePktLines(Buffer.from("0003"))).toThrow(PktLineError);
    expect(() => writePktLine(Buffer.alloc(70_000))).toThrow(PktLineError);
  });

  it("splits side-band data at the 65515-byte limit", () => {
    const data = Buffer.alloc(MAX_SIDEBAND_DATA + 10, 0x61);
    const { lines } = parsePktLines(writeSideband(2, data));
    expect(lines).toHaveLength(2);
    const payloads = lines.map((l) => (l.type === "data" ? l.payload : Buffer.alloc(0)));
    expect(payloads.every((p) => p[0] === 2)).toBe(true);
    expect(Buffer.concat(payloads.map((p) => p.subarray(1))).equals(data)).toBe(true);
  });
});
