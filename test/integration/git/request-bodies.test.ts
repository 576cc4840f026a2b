import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import net from "node:net";
import path from "node:path";
import { PassThrough } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { FLUSH_PKT, writePktLine } from "../../../src/git/pkt-line.js";
import { createLogger } from "../../../src/log.js";
import { TEST_TOKEN } from "../../helpers/git-server.js";
import { gitTestBed } from "../../helpers/git-test-bed.js";
import { until } from "../../helpers/until.js";

const logLines: Record<string, unknown>[] = [];
const MAX_PUSH = 2 * 1024 * 1024;
const IDLE_MS = 500;
const MiB = 1024 * 1024;

const logStream = new PassThrough();
let partial = "";
logStream.on("data", (b: Buffer) => {
  const parts = (partial + b.toString("utf8")).split("\n");
  partial = parts.pop() ?? "";
  for (const p of parts) if (p) logLines.push(JSON.parse(p) as Record<string, unknown>);
});
const bed = gitTestBed({ plan: { steps: ["built"] }, maxPushBytes: MAX_PUSH, bodyIdleMs: IDLE_MS, log: createLogger("info", logStream) });
const { client } = bed;

/**
 * A body that inflates to `count` MiB of `fill` after `head`: gzip members of 1 MiB each, about
 * 1 KiB compressed, one after the other (gunzip reads concatenated members as one stream).
 */
function gzipBomb(head: Buffer, fill: Buffer, count: number): Buffer {
  const member = gzipSync(fill, { level: 9 });
  expect(fill.length).toBe(MiB);
  return Buffer.concat([gzipSync(head), ...Array.from({ length: count }, () => member)]);
}

interface RawRequest {
  readonly socket: net.Socket;
  /** Everything the server sent. */
  text(): string;
  /** Resolves with ms since the request began when the server ends the connection (its FIN, or a close). */
  readonly ended: Promise<number>;
  /** Body bytes the kernel has taken from the client so far (sent, or in the socket buffers on the way). */
  sent(): number;
  /** Resolves with ms since the request began when the connection is reset or torn down under the client (a failed write). */
  readonly broken: Promise<number>;
}

/** A receive-pack POST on a raw socket; `body` is written in 64 KiB pieces, as fast as the server reads it. */
async function rawPush(app: string, headers: Record<string, string>, body?: Buffer): Promise<RawRequest> {
  // Half-open, as curl is: the server's FIN does not end our sending.
  const socket = net.connect({ port: bed.server.port, host: "127.0.0.1", allowHalfOpen: true });
  await new Promise((r) => socket.once("connect", r));
  const started = Date.now();
  const received: Buffer[] = [];
  socket.on("data", (b: Buffer) => received.push(b));
  let broke: (at: number) => void = () => undefined;
  const broken = new Promise<number>((resolve) => (broke = resolve));
  socket.on("error", () => broke(Date.now() - started)); // writing after the server closed: expected here
  const ended = new Promise<number>((resolve) => {
    socket.once("end", () => resolve(Date.now() - started));
    socket.once("close", () => resolve(Date.now() - started));
  });
  const auth = Buffer.from(`git:${TEST_TOKEN}`).toString("base64");
  const lines = [
    `POST /${app}.git/git-receive-pack HTTP/1.1`,
    "Host: x",
    `Authorization: Basic ${auth}`,
    "Content-Type: application/x-git-receive-pack-request",
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.write(`${lines.join("\r\n")}\r\n\r\n`);
  let sent = 0;
  void (async () => {
    for (let at = 0; body && at < body.length && !socket.destroyed; at += 64 * 1024) {
      const piece = body.subarray(at, at + 64 * 1024);
      const taken = await new Promise<boolean>((resolve) => socket.write(piece, (err) => resolve(!err)));
      if (!taken) return broke(Date.now() - started);
      sent += piece.length;
    }
  })();
  return { socket, ended, broken, text: () => Buffer.concat(received).toString("latin1"), sent: () => sent };
}

/**
 * Waits for the server to end the connection, failing after `ms` rather than hanging. Returns when
 * that was, and how much of the body the client got rid of by then.
 */
async function endedWithin(req: RawRequest, ms: number): Promise<{ at: number; sent: number }> {
  const at = await Promise.race([req.ended, sleep(ms).then(() => -1)]);
  const sent = req.sent();
  req.socket.destroy();
  expect(at, `the server still had the connection open after ${ms} ms`).toBeGreaterThanOrEqual(0);
  return { at, sent };
}

/** CPU time this process (server and client) uses over `ms`, in ms: inflating shows as about 1 ms per ms. */
async function cpuOver(ms: number): Promise<number> {
  const before = process.cpuUsage();
  await sleep(ms);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

/** A pack header and one blob of 1 GiB whose zlib data is stored (uncompressed) blocks of zeros: git waits for all of it. */
function endlessPackHead(): Buffer {
  const size = 2 ** 30;
  const header = [0x80 | (3 << 4) | (size & 0x0f)]; // type 3 = blob, then the size, 7 bits a byte
  for (let rest = size >>> 4; rest > 0; rest >>>= 7) header.push((rest > 0x7f ? 0x80 : 0) | (rest & 0x7f));
  return Buffer.concat([Buffer.from("PACK"), Buffer.from([0, 0, 0, 2, 0, 0, 0, 1]), Buffer.from(header), Buffer.from([0x78, 0x01])]);
}

/** 1 MiB of stored deflate blocks of zeros, none final: a deflate stream that goes on. */
function storedZeroBlocks(): Buffer {
  const block = (len: number): Buffer => Buffer.concat([Buffer.from([0x00, len & 0xff, len >> 8, ~len & 0xff, (~len >> 8) & 0xff]), Buffer.alloc(len)]);
  const full = Array.from({ length: 15 }, () => block(0xffff));
  const used = full.reduce((n, b) => n + b.length, 0);
  return Buffer.concat([...full, block(MiB - used - 5)]);
}

describe("request bodies the server stops reading", () => {
  it("git has answered: the rest of a gzip bomb is neither inflated nor read, and the connection is closed", async () => {
    await bed.deployed("bomb-done");
    // Inflates to 40 GiB of flush-pkts: receive-pack reads the first, has no commands and exits.
    const body = gzipBomb(Buffer.alloc(0), Buffer.alloc(MiB, "0"), 40 * 1024);
    const req = await rawPush("bomb-done", { "Content-Encoding": "gzip", "Content-Length": String(body.length) }, body);
    const { at, sent } = await endedWithin(req, 5000);
    expect(req.text()).toMatch(/^HTTP\/1\.1 200 /);
    expect(at).toBeLessThan(3000);
    // The server stopped reading: most of the 40 MB body never left the client.
    expect(sent).toBeLessThan(body.length / 2);
    // And stopped inflating: this process is all but idle in the second after.
    expect(await cpuOver(1000)).toBeLessThan(300);
    expect((await fetch(`http://127.0.0.1:${bed.server.port}/healthz`)).status).toBe(200);
  });

  it("a push that inflates past the limit is refused as it inflates (PUSH_TOO_LARGE), then neither inflated nor read", async () => {
    const { head } = await bed.deployed("bomb-large");
    const commands = Buffer.concat([writePktLine(`${head} ${"1".repeat(40)} refs/heads/main\0report-status side-band-64k\n`), FLUSH_PKT]);
    const body = gzipBomb(Buffer.concat([commands, endlessPackHead()]), storedZeroBlocks(), 40 * 1024);
    const before = logLines.length;
    const req = await rawPush("bomb-large", { "Content-Encoding": "gzip", "Content-Length": String(body.length) }, body);
    const { at, sent } = await endedWithin(req, 5000);
    expect(req.text()).toMatch(/^HTTP\/1\.1 200 /);
    expect(req.text()).toContain("PUSH_TOO_LARGE: this push is over the server's limit of 2 MiB");
    expect(req.text()).toContain("ng refs/heads/main PUSH_TOO_LARGE");
    expect(at).toBeLessThan(3000);
    expect(sent).toBeLessThan(body.length / 2);
    expect(await cpuOver(1000)).toBeLessThan(300);
    // Cut where the limit was crossed: not one MiB member further.
    const refused = logLines.slice(before).find((l) => String(l.msg).startsWith("push too large"));
    expect(refused?.received).toBeGreaterThan(MAX_PUSH);
    expect(refused?.received).toBeLessThan(MAX_PUSH + MiB);
    await until(() => bed.server.handler.activeProcesses().length === 0, 5000);
  });
});

describe("a client still sending when the answer goes out", () => {
  it("is not reset under it: a megabyte more is read and dropped, then nothing, and the connection closes seconds later", async () => {
    // git's curl sends on and, when a send fails on a reset, gives up without reading the answer
    // already waiting for it; so the server holds the client back instead of resetting it at once.
    const { head } = await bed.deployed("still-sending");
    const commands = Buffer.concat([writePktLine(`${head} ${"1".repeat(40)} refs/heads/main\0report-status side-band-64k\n`), FLUSH_PKT]);
    const blocks = storedZeroBlocks();
    const body = Buffer.concat([commands, endlessPackHead(), ...Array.from({ length: 40 }, () => blocks)]);
    const req = await rawPush("still-sending", { "Content-Length": String(body.length) }, body);
    const answered = await Promise.race([req.ended, sleep(5000).then(() => -1)]);
    expect(answered, "no answer within 5 s").toBeGreaterThanOrEqual(0);
    expect(req.text()).toContain("ng refs/heads/main PUSH_TOO_LARGE");
    const broken = await Promise.race([req.broken, sleep(10_000).then(() => -1)]);
    expect(broken, "the connection was never closed").toBeGreaterThanOrEqual(0);
    expect(broken - answered).toBeGreaterThan(2000);
    expect(req.sent()).toBeLessThan(body.length / 2);
    req.socket.destroy();
    await until(() => bed.server.handler.activeProcesses().length === 0, 5000);
  });
});

describe("a real git push far over the limit", () => {
  it("still shows the PUSH_TOO_LARGE lines, though git's upload is cut off", async () => {
    const { work, head } = await bed.deployed("far-too-large");
    await client.commit(work, "huge.bin", randomBytes(40 * MiB), "huge");
    const push = await client.run(["push", bed.server.url("far-too-large"), "HEAD:main"], work);
    expect(push.code).not.toBe(0);
    // git sends a big pack as it goes, answer or not; the server stops reading after the limit,
    // so git also reports its own "RPC failed" after our lines (a push just over the limit gets
    // the clean "[remote rejected] (PUSH_TOO_LARGE)": see failures.test.ts).
    expect(push.stderr).toContain("remote: !     PUSH_TOO_LARGE: this push is over the server's limit of 2 MiB.");
    expect(push.stderr).toContain("SLUGFORGE_MAX_PUSH_BYTES");
    await until(() => bed.server.handler.activeProcesses().length === 0, 5000);
    const ref = await client.ok(["--git-dir", path.join(bed.server.reposDir, "far-too-large.git"), "rev-parse", "refs/heads/main"], work);
    expect(ref).toBe(head);
  });
});

describe("a request body that sends nothing", () => {
  it("is dropped after the idle limit: answered 408, connection closed, git gone, quarantine swept", async () => {
    const { work, head } = await bed.deployed("silent-body");
    const next = await client.commit(work, "s.txt", "s\n", "silent");
    const pack = execFileSync("git", ["pack-objects", "--stdout", "--revs"], { cwd: work, input: `${next}\n^${head}\n`, env: client.env });
    const commands = Buffer.concat([writePktLine(`${head} ${next} refs/heads/main\0report-status side-band-64k\n`), FLUSH_PKT]);
    const seen = new Set<number>();
    const sample = setInterval(() => bed.server.handler.activeProcesses().forEach((p) => seen.add(p)), 20);
    // A large Content-Length, the start of the pack, then nothing.
    const req = await rawPush("silent-body", { "Content-Length": String(100 * MiB) }, Buffer.concat([commands, pack.subarray(0, 20)]));
    const { at } = await endedWithin(req, 5000);
    clearInterval(sample);
    expect(req.text()).toMatch(/^HTTP\/1\.1 408 /);
    expect(req.text()).toContain("BAD_REQUEST: the request body sent nothing for 500 ms; the request was dropped.");
    expect(at).toBeGreaterThanOrEqual(IDLE_MS);
    expect(at).toBeLessThan(IDLE_MS + 2000);
    expect(seen.size).toBeGreaterThan(0);
    await bed.settled("silent-body", seen);
    expect(bed.server.bridge.locks.depth("silent-body")).toBe(0);
    // Nothing was built and the branch did not move; a push afterwards goes through.
    const again = await client.run(["push", bed.server.url("silent-body"), "HEAD:main"], work);
    expect(again.code, again.stderr).toBe(0);
  });

  it("a slow body that keeps sending is not dropped", async () => {
    const { work, head } = await bed.deployed("slow-body");
    const next = await client.commit(work, "slow.txt", "slow\n", "slow");
    const pack = execFileSync("git", ["pack-objects", "--stdout", "--revs"], { cwd: work, input: `${next}\n^${head}\n`, env: client.env });
    const body = Buffer.concat([writePktLine(`${head} ${next} refs/heads/main\0report-status\n`), FLUSH_PKT, pack]);
    const req = await rawPush("slow-body", { "Content-Length": String(body.length) });
    // Five pieces, each after a pause shorter than the idle limit: 1.2 s in all, over twice the limit.
    const piece = Math.ceil(body.length / 5);
    for (let at = 0; at < body.length; at += piece) {
      await sleep(IDLE_MS * 0.6);
      req.socket.write(body.subarray(at, at + piece));
    }
    await until(() => req.text().includes("0000"), 10_000);
    req.socket.destroy();
    expect(req.text()).toMatch(/^HTTP\/1\.1 200 /);
    expect(req.text()).toContain("ok refs/heads/main");
  });
});
