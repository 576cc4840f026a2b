import { describe, expect, it } from "vitest";
import { createBuildPrinter, createLineWriter } from "../../../src/builds/build-printer.js";

function sink(): { chunks: Buffer[]; write(c: string | Buffer): void } {
  const chunks: Buffer[] = [];
  return { chunks, write: (c) => chunks.push(Buffer.from(c)) };
}

describe("build output", () => {
  it("prints Heroku's step, detail and error prefixes", () => {
    const out = sink();
    const p = createBuildPrinter(out);
    p.step("Python app detected");
    p.detail("Done: 1.2M");
    p.error("Push rejected");
    expect(Buffer.concat(out.chunks).toString()).toBe("-----> Python app detected\n       Done: 1.2M\n !     Push rejected\n");
  });

  it("passes whole lines (\\n or \\r) and holds a partial line until it ends", async () => {
    const out = sink();
    const w = createLineWriter(out, 10_000);
    w.write(Buffer.from("one\ntw"));
    w.write(Buffer.from("o\rthr"));
    expect(out.chunks.map(String)).toEqual(["one\n", "two\r"]);
    w.flushNow();
    expect(out.chunks.map(String)).toEqual(["one\n", "two\r", "thr"]);
  });

  it("flushes an idle partial line without cutting a UTF-8 character", async () => {
    const out = sink();
    const w = createLineWriter(out, 20);
    const check = Buffer.from("✓"); // three bytes
    w.write(Buffer.concat([Buffer.from("progress "), check.subarray(0, 2)]));
    await new Promise((r) => setTimeout(r, 60));
    expect(Buffer.concat(out.chunks).toString()).toBe("progress ");
    w.write(Buffer.concat([check.subarray(2), Buffer.from(" done\n")]));
    expect(Buffer.concat(out.chunks).toString()).toBe("progress ✓ done\n");
  });
});
