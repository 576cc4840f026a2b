import { chmod, mkdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { CONTROL_PREFIX, HOOK_ENV, PRE_RECEIVE_PATH } from "./hook-protocol.js";

/**
 * The pre-receive hook: a bridge only, written with node built-ins so it runs anywhere node does.
 * It carries the ref lines and the quarantine paths to the server over the unix socket and copies
 * the answer to stdout as it comes (stdout to a pipe is synchronous on Linux: nothing is held
 * back). It exits 0 only when the answer ends with the ok status record; a socket that is down, an
 * answer that stops or a missing status all reject the push with a message.
 */
export function preReceiveScript(nodePath: string = process.execPath): string {
  return `#!${nodePath}
"use strict";
// slugforge pre-receive shim (generated; do not edit: the server rewrites it at start).
const http = require("node:http");
const env = process.env;
const CONTROL = ${JSON.stringify(CONTROL_PREFIX)};
const say = (line) => { try { process.stdout.write(line + "\\n"); } catch (_) { /* client gone */ } };
// Exit only once stdout has drained: a pipe write can still be queued, and exit() would drop it.
let exiting = false;
const exit = (code) => {
  if (exiting) return;
  exiting = true;
  process.stdout.write("", () => process.exit(code));
  setTimeout(() => process.exit(code), 10000).unref();
};
const fail = (line) => { if (!exiting) say("!     " + line); exit(1); };
const socketPath = env.${HOOK_ENV.socket};
const token = env.${HOOK_ENV.token};
const idleMs = Number(env.${HOOK_ENV.idleTimeoutMs}) || 120000;
const input = [];
if (!socketPath || !token) fail("slugforge: this repository is served by slugforge; push through its HTTP URL.");
else process.stdin.on("data", (c) => input.push(c));
process.stdin.on("end", () => {
  if (exiting) return;
  const refs = Buffer.concat(input).toString("utf8").split("\\n").filter(Boolean).map((line) => {
    const [oldRev, newRev, ref] = line.split(" ");
    return { old: oldRev, new: newRev, ref };
  });
  const pushOptions = [];
  for (let i = 0; i < (Number(env.GIT_PUSH_OPTION_COUNT) || 0); i++) pushOptions.push(env["GIT_PUSH_OPTION_" + i] || "");
  const body = JSON.stringify({
    app: env.${HOOK_ENV.app} || "",
    cwd: process.cwd(),
    refs,
    objectDirectory: env.GIT_OBJECT_DIRECTORY,
    alternateObjectDirectories: env.GIT_ALTERNATE_OBJECT_DIRECTORIES,
    quarantinePath: env.GIT_QUARANTINE_PATH,
    pushOptions,
  });
  let timer;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      req.destroy();
      fail("slugforge: the build server stopped answering (no output for " + Math.round(idleMs / 1000) + " s); the push was rejected. Try again.");
    }, idleMs);
  };
  const req = http.request({
    socketPath, path: ${JSON.stringify(PRE_RECEIVE_PATH)}, method: "POST",
    headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), authorization: "Bearer " + token },
  }, (res) => {
    arm();
    let pending = "";
    let status;
    res.setEncoding("utf8");
    res.on("data", (chunk) => {
      arm();
      let text = pending + chunk;
      pending = "";
      let out = "";
      for (;;) {
        const at = text.indexOf("\\0");
        if (at === -1) { out += text; break; }
        out += text.slice(0, at);
        const end = text.indexOf("\\n", at);
        if (end === -1) { pending = text.slice(at); break; }
        const record = text.slice(at, end);
        if (record.startsWith(CONTROL + "STATUS ")) status = record.slice(CONTROL.length + 7);
        text = text.slice(end + 1);
      }
      if (out) { try { process.stdout.write(out); } catch (_) { /* client gone */ } }
    });
    res.on("end", () => {
      clearTimeout(timer);
      if (res.statusCode !== 200) return fail("slugforge: the build server refused the hook (HTTP " + res.statusCode + ").");
      if (status === "ok") return exit(0);
      if (status === undefined) return fail("slugforge: the build server's answer ended early; the push was rejected. Try again.");
      exit(1);
    });
    res.on("error", () => fail("slugforge: the connection to the build server broke; the push was rejected."));
  });
  req.on("error", (err) => {
    clearTimeout(timer);
    fail("slugforge: cannot reach the build server (" + (err.code || err.message) + "); the push was rejected. Is slugforge running?");
  });
  arm();
  req.end(body);
});
`;
}

/**
 * Writes the hook into the server-owned hooks directory (the core.hooksPath of every push).
 * A package.json pins CommonJS, in case the folder sits under a `"type": "module"` package.
 */
export async function installHooks(hooksDir: string, nodePath: string = process.execPath): Promise<string> {
  await mkdir(hooksDir, { recursive: true, mode: 0o755 });
  await writeFile(path.join(hooksDir, "package.json"), '{ "type": "commonjs" }\n');
  const target = path.join(hooksDir, "pre-receive");
  const tmp = `${target}.${process.pid}.tmp`;
  await writeFile(tmp, preReceiveScript(nodePath), { mode: 0o755 });
  await chmod(tmp, 0o755);
  await rename(tmp, target);
  return target;
}
