#!/usr/bin/env node
// slugforge's pre-receive hook in node: hooks/pre-receive.cjs in slugforge's repository, which the
// server copies into its hooks folder at every start (installHooks in src/git/hook-shim.ts) where
// perl can't run hooks/pre-receive.pl. Edit that file, not an installed copy. Node built-ins only,
// so it runs anywhere node does.
//
// A bridge only: it carries the ref lines and the quarantine paths to the server over the unix
// socket and copies the answer to stdout as it comes (stdout to a pipe is synchronous on Linux:
// nothing is held back). It exits 0 only when the answer ends with the ok status record; a socket
// that is down, an answer that stops or a missing status all reject the push with a message.
"use strict";
const http = require("node:http");

// Constants. installHooks rewrites each line marked "slugforge:constant" with the value of the same
// name from src/git/hook-protocol.ts; the values here are the protocol's, so the file runs as it is
// (a unit test keeps them equal).
const CONTROL = "\u0000SLUGFORGE-"; // slugforge:constant
const ROUTE = "/pre-receive"; // slugforge:constant
const SOCKET_VAR = "SLUGFORGE_HOOK_SOCKET"; // slugforge:constant
const TOKEN_VAR = "SLUGFORGE_PUSH_TOKEN"; // slugforge:constant
const APP_VAR = "SLUGFORGE_APP"; // slugforge:constant
const IDLE_TIMEOUT_VAR = "SLUGFORGE_HOOK_IDLE_TIMEOUT_MS"; // slugforge:constant

const env = process.env;
const say = (line) => { try { process.stdout.write(line + "\n"); } catch { /* client gone */ } };
// Exit only once stdout has drained: a pipe write can still be queued, and exit() would drop it.
let exiting = false;
const exit = (code) => {
  if (exiting) return;
  exiting = true;
  process.stdout.write("", () => process.exit(code));
  setTimeout(() => process.exit(code), 10000).unref();
};
const fail = (line) => { if (!exiting) say("!     " + line); exit(1); };
const socketPath = env[SOCKET_VAR];
const token = env[TOKEN_VAR];
const idleMs = Number(env[IDLE_TIMEOUT_VAR]) || 120000;
const input = [];
if (!socketPath || !token) fail("slugforge: this repository is served by slugforge; push through its HTTP URL.");
else process.stdin.on("data", (c) => input.push(c));
process.stdin.on("end", () => {
  if (exiting) return;
  const refs = Buffer.concat(input).toString("utf8").split("\n").filter(Boolean).map((line) => {
    const [oldRev, newRev, ref] = line.split(" ");
    return { old: oldRev, new: newRev, ref };
  });
  const pushOptions = [];
  for (let i = 0; i < (Number(env.GIT_PUSH_OPTION_COUNT) || 0); i++) pushOptions.push(env["GIT_PUSH_OPTION_" + i] || "");
  const body = JSON.stringify({
    app: env[APP_VAR] || "",
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
    socketPath, path: ROUTE, method: "POST",
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
        const at = text.indexOf("\0");
        if (at === -1) { out += text; break; }
        out += text.slice(0, at);
        const end = text.indexOf("\n", at);
        if (end === -1) { pending = text.slice(at); break; }
        const record = text.slice(at, end);
        if (record.startsWith(CONTROL + "STATUS ")) status = record.slice(CONTROL.length + 7);
        text = text.slice(end + 1);
      }
      if (out) { try { process.stdout.write(out); } catch { /* client gone */ } }
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
