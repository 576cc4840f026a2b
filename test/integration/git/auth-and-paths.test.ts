import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import http from "node:http";
import zlib from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import { writePktLine } from "../../../src/git/pkt-line.js";
import { TEST_TOKEN } from "../../helpers/git-server.js";
import { gitTestBed } from "../../helpers/git-test-bed.js";

const bed = gitTestBed({ plan: { steps: ["built"] } });
const { client, dirs } = bed;
let head: string;
const basic = (password: string): string => `Basic ${Buffer.from(`git:${password}`).toString("base64")}`;
const AUTH = basic(TEST_TOKEN);

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A raw request: the path goes out exactly as written (no normalisation). */
function request(method: string, path: string, options: { headers?: Record<string, string>; body?: Buffer } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: bed.server.port, method, path, headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

beforeAll(async () => {
  ({ head } = await bed.deployed("known"));
});

describe("advertisement", () => {
  it("answers info/refs with the exact content type, no-cache headers, preamble and capabilities", async () => {
    const r = await request("GET", "/known.git/info/refs?service=git-receive-pack", { headers: { Authorization: AUTH } });
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("application/x-git-receive-pack-advertisement");
    expect(r.headers["cache-control"]).toBe("no-cache, max-age=0, must-revalidate");
    expect(r.headers.pragma).toBe("no-cache");
    expect(r.headers.expires).toBe("Fri, 01 Jan 1980 00:00:00 GMT");
    const body = r.body.toString("latin1");
    expect(body.startsWith("001f# service=git-receive-pack\n0000")).toBe(true);
    expect(body).toContain(`${head} refs/heads/main\0`);
    for (const cap of ["report-status", "side-band-64k", "push-options", "atomic"]) expect(body).toContain(cap);
  });

  it("refuses a missing or unknown service", async () => {
    expect((await request("GET", "/known.git/info/refs", { headers: { Authorization: AUTH } })).status).toBe(403);
    expect((await request("GET", "/known.git/info/refs?service=git-annex", { headers: { Authorization: AUTH } })).status).toBe(403);
  });
});

describe("authentication on every request", () => {
  it.each([
    ["GET", "/known.git/info/refs?service=git-receive-pack"],
    ["GET", "/known.git/info/refs?service=git-upload-pack"],
    ["POST", "/known.git/git-receive-pack"],
    ["POST", "/known.git/git-upload-pack"],
    ["POST", "/brand-new.git/git-receive-pack"],
    ["GET", "/brand-new.git/info/refs?service=git-receive-pack"],
  ])("%s %s without or with a wrong token gets 401", async (method, path) => {
    const service = path.includes("upload") ? "git-upload-pack" : "git-receive-pack";
    const headers: Record<string, string> = method === "POST" ? { "Content-Type": `application/x-${service}-request` } : {};
    const attempts: Record<string, string>[] = [{}, { Authorization: basic("wrong-token") }, { Authorization: "Bearer " + TEST_TOKEN }];
    for (const extra of attempts) {
      const r = await request(method, path, { headers: { ...headers, ...extra }, body: method === "POST" ? Buffer.from("0000") : undefined });
      expect(r.status).toBe(401);
      expect(r.headers["www-authenticate"]).toBe('Basic realm="slugforge"');
      expect(r.body.toString()).toContain("UNAUTHORIZED");
    }
    expect(await readdir(bed.server.reposDir)).toEqual(["known.git"]);
  });

  it("answers the authenticated 4-byte probe with an empty result", async () => {
    const r = await request("POST", "/known.git/git-receive-pack", {
      headers: { Authorization: AUTH, "Content-Type": "application/x-git-receive-pack-request" },
      body: Buffer.from("0000"),
    });
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("application/x-git-receive-pack-result");
    expect(r.body.length).toBe(0);
  });

  it("git without credentials fails to read a user name; a wrong token fails authentication", async () => {
    const work = await dirs.make();
    await client.initRepo(work);
    const anonymous = await client.run(["push", `http://127.0.0.1:${bed.server.port}/known.git`, "HEAD:main"], work);
    expect(anonymous.code).not.toBe(0);
    expect(anonymous.stderr).toContain("could not read Username");
    const wrong = await client.run(["push", bed.server.url("known", "not-the-token"), "HEAD:main"], work);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain("Authentication failed");
    expect(await readdir(bed.server.reposDir)).toEqual(["known.git"]);
  });

  it("a push over 1 MiB sends the probe and a chunked POST, both authenticated", async () => {
    const work = await dirs.make();
    await client.initRepo(work);
    await client.commit(work, "big.bin", randomBytes(3 * 1024 * 1024), "big");
    const from = bed.server.requests.length;
    const push = await client.run(["push", bed.server.url("big-push"), "HEAD:main"], work);
    expect(push.code, push.stderr).toBe(0);
    const posts = bed.server.requests.slice(from).filter((r) => r.method === "POST" && r.status === 200);
    expect(posts.some((r) => r.contentLength === "4" && r.auth)).toBe(true);
    expect(posts.some((r) => r.contentLength === undefined && r.auth)).toBe(true);
    expect(bed.server.requests.slice(from).filter((r) => r.method === "POST").every((r) => r.auth)).toBe(true);
  });
});

describe("paths and names", () => {
  const tricks = [
    "/../known.git/info/refs?service=git-receive-pack",
    "/%2e%2e/evil.git/info/refs?service=git-receive-pack",
    "/x/%2e%2e/%2e%2e/evil.git/info/refs?service=git-receive-pack",
    "//etc.git/info/refs?service=git-receive-pack",
    "/a/b.git/info/refs?service=git-receive-pack",
    "/Upper.git/info/refs?service=git-receive-pack",
    "/app.git.git/info/refs?service=git-receive-pack",
    "/app%00.git/info/refs?service=git-receive-pack",
    "/app%2f..%2fetc.git/info/refs?service=git-receive-pack",
    "/a.git/info/refs?service=git-receive-pack",
    "/x2345678901234567890123456789012.git/info/refs?service=git-receive-pack",
    "/-dash.git/info/refs?service=git-receive-pack",
    "/known.git/HEAD",
    "/known.git/objects/info/packs",
    "/new-dumb.git/HEAD",
    "/known/info/refs?service=git-receive-pack",
  ];
  it.each(tricks)("%s gets 404 and creates nothing", async (path) => {
    const r = await request("GET", path, { headers: { Authorization: AUTH } });
    expect(r.status).toBe(404);
    for (const name of await readdir(bed.server.reposDir)) expect(name).toMatch(/^(known|big-push)\.git$/);
  });

  it("a fetch of an unknown app is 404 and creates nothing", async () => {
    const r = await request("GET", "/ghost.git/info/refs?service=git-upload-pack", { headers: { Authorization: AUTH } });
    expect(r.status).toBe(404);
    expect(r.body.toString()).toContain("not found");
    const clone = await client.run(["clone", bed.server.url("ghost"), await dirs.make()], bed.server.dataDir);
    expect(clone.code).not.toBe(0);
    expect(clone.stderr).toContain("not found");
    const post = await request("POST", "/ghost.git/git-receive-pack", {
      headers: { Authorization: AUTH, "Content-Type": "application/x-git-receive-pack-request" },
      body: Buffer.from("0000"),
    });
    expect(post.status).toBe(404);
    expect((await readdir(bed.server.reposDir)).some((n) => n.startsWith("ghost"))).toBe(false);
  });

  it("wrong Content-Type or Content-Encoding on the POST gets 415", async () => {
    const variants: Record<string, string>[] = [
      { "Content-Type": "application/x-git-upload-pack-request" },
      { "Content-Type": "application/x-git-receive-pack-request; charset=utf-8" },
      { "Content-Type": "text/plain" },
      { "Content-Type": "application/x-git-receive-pack-request", "Content-Encoding": "br" },
    ];
    for (const headers of variants) {
      const r = await request("POST", "/known.git/git-receive-pack", { headers: { Authorization: AUTH, ...headers }, body: Buffer.from("0000") });
      expect(r.status).toBe(415);
    }
  });
});

describe("upload-pack", () => {
  it.each([
    ["gzip", zlib.gzipSync],
    ["deflate", zlib.deflateSync],
  ] as const)("decodes a %s request body", async (encoding, encode) => {
    const body = Buffer.concat([writePktLine(`want ${head} ofs-delta\n`), Buffer.from("0000"), writePktLine("done\n")]);
    const r = await request("POST", "/known.git/git-upload-pack", {
      headers: { Authorization: AUTH, "Content-Type": "application/x-git-upload-pack-request", "Content-Encoding": encoding },
      body: encode(body),
    });
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("application/x-git-upload-pack-result");
    expect(r.body.toString("latin1")).toContain("PACK");
  });

  it("a corrupt gzip body is refused without hurting the server", async () => {
    const r = await request("POST", "/known.git/git-upload-pack", {
      headers: { Authorization: AUTH, "Content-Type": "application/x-git-upload-pack-request", "Content-Encoding": "gzip" },
      body: Buffer.from("definitely not gzip"),
    });
    expect([200, 400]).toContain(r.status);
    expect((await request("GET", "/healthz")).status).toBe(200);
  });

  it("git clone and a protocol v2 clone work", async () => {
    for (const v of ["0", "2"]) {
      const dir = `${await dirs.make()}/c`;
      const clone = await client.run(["-c", `protocol.version=${v}`, "clone", bed.server.url("known"), dir], bed.server.dataDir);
      expect(clone.code, clone.stderr).toBe(0);
      expect(await client.ok(["rev-parse", "HEAD"], dir)).toBe(head);
    }
  });
});
