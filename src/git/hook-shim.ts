import { chmod, mkdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { runProcess } from "../util/run-process.js";
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

/** The numbers the Perl hook needs from the system's socket headers, asked of perl's Socket at install time. */
export interface PerlSocketConstants {
  readonly pfUnix: number;
  readonly sockStream: number;
}

/**
 * The same hook in Perl, which starts in about 2 ms where node takes 70 (every push pays it once).
 * Perl's built-ins only: loading Socket, IO::Socket::UNIX, IO::Select, Cwd and warnings took
 * 20 ms of every push, so the socket constants are looked up once, when the hook is written
 * (installHooks), and the working directory is read from /proc. Same protocol and messages as the
 * node one: HTTP/1.1 over the unix socket, the answer copied to stdout as it comes with the control
 * records cut out, exit 0 only on the ok status record.
 */
export function preReceivePerlScript(perlPath = "/usr/bin/perl", sockets: PerlSocketConstants = { pfUnix: 1, sockStream: 1 }): string {
  const control = CONTROL_PREFIX.replace("\0", "\\0");
  return `#!${perlPath}
# slugforge pre-receive hook (generated; do not edit: the server rewrites it at start).
use strict;

$SIG{PIPE} = 'IGNORE';    # the pusher went away: writes fail quietly
$| = 1;
my $CONTROL = "${control}";
sub say_line { print STDOUT $_[0], "\\n"; }
sub fail { say_line("!     " . $_[0]); exit 1; }

my $socket_path = $ENV{${JSON.stringify(HOOK_ENV.socket)}};
my $token = $ENV{${JSON.stringify(HOOK_ENV.token)}};
my $idle_ms = ($ENV{${JSON.stringify(HOOK_ENV.idleTimeoutMs)}} // '') =~ /^(\\d+)$/ && $1 > 0 ? $1 : 120000;
fail("slugforge: this repository is served by slugforge; push through its HTTP URL.") unless $socket_path && $token;

sub js {
  my ($s) = @_;
  $s =~ s/(["\\\\])/\\\\$1/g;
  $s =~ s/([\\x00-\\x1f])/sprintf("\\\\u%04x", ord($1))/ge;
  return '"' . $s . '"';
}
my @refs;
while (my $line = <STDIN>) {
  chomp $line;
  next if $line eq '';
  my ($old, $new, $ref) = split / /, $line;
  push @refs, '{"old":' . js($old // '') . ',"new":' . js($new // '') . ',"ref":' . js($ref // '') . '}';
}
my @options = map { js($ENV{"GIT_PUSH_OPTION_$_"} // '') } 0 .. (($ENV{GIT_PUSH_OPTION_COUNT} // 0) =~ /^(\\d+)$/ ? $1 - 1 : -1);
my $cwd = readlink('/proc/self/cwd');
if (!defined $cwd) { require Cwd; $cwd = Cwd::getcwd(); }
my $body = '{"app":' . js($ENV{${JSON.stringify(HOOK_ENV.app)}} // '') . ',"cwd":' . js($cwd // '') . ',"refs":[' . join(',', @refs) . ']';
for my $pair (['objectDirectory', 'GIT_OBJECT_DIRECTORY'], ['alternateObjectDirectories', 'GIT_ALTERNATE_OBJECT_DIRECTORIES'], ['quarantinePath', 'GIT_QUARANTINE_PATH']) {
  $body .= ',"' . $pair->[0] . '":' . js($ENV{$pair->[1]}) if defined $ENV{$pair->[1]};
}
$body .= ',"pushOptions":[' . join(',', @options) . ']}';

# struct sockaddr_un: the family, then the path in 108 bytes (as Socket's pack_sockaddr_un makes it).
my $sock;
socket($sock, ${sockets.pfUnix}, ${sockets.sockStream}, 0) && connect($sock, pack('S a108', ${sockets.pfUnix}, $socket_path))
  or fail("slugforge: cannot reach the build server ($!); the push was rejected. Is slugforge running?");
my $request = "POST ${PRE_RECEIVE_PATH} HTTP/1.1\\r\\nHost: localhost\\r\\nContent-Type: application/json\\r\\n"
  . "Content-Length: " . length($body) . "\\r\\nAuthorization: Bearer $token\\r\\nConnection: close\\r\\n\\r\\n" . $body;
while (length $request) {
  my $n = syswrite($sock, $request);
  fail("slugforge: the connection to the build server broke; the push was rejected.") unless defined $n;
  substr($request, 0, $n) = '';
}

my ($code, $chunked, $status);
my $head = '';
my $raw = '';         # body bytes not decoded yet (chunked framing)
my $pending = '';     # a control record cut by a read
my $done = 0;
sub emit {
  my $text = $pending . $_[0];
  $pending = '';
  my $out = '';
  while (1) {
    my $at = index($text, "\\0");
    if ($at < 0) { $out .= $text; last; }
    $out .= substr($text, 0, $at);
    my $end = index($text, "\\n", $at);
    if ($end < 0) { $pending = substr($text, $at); last; }
    my $record = substr($text, $at, $end - $at);
    $status = substr($record, length($CONTROL) + 7) if index($record, $CONTROL . "STATUS ") == 0;
    $text = substr($text, $end + 1);
  }
  print STDOUT $out if length $out;
}
sub decode {
  if (!$chunked) { emit($raw); $raw = ''; return; }
  while (!$done) {
    my $eol = index($raw, "\\r\\n");
    return if $eol < 0;
    my $size = hex(substr($raw, 0, $eol));
    if ($size == 0) { $done = 1; return; }
    return if length($raw) < $eol + 2 + $size + 2;
    emit(substr($raw, $eol + 2, $size));
    substr($raw, 0, $eol + 2 + $size + 2) = '';
  }
}
my $watch = '';
vec($watch, fileno($sock), 1) = 1;
while (!$done) {
  my $ready = select(my $readable = $watch, undef, undef, $idle_ms / 1000);
  next if $ready < 0 && $!{EINTR};
  fail("slugforge: the build server stopped answering (no output for " . int($idle_ms / 1000 + 0.5) . " s); the push was rejected. Try again.")
    unless $ready > 0;
  my $n = sysread($sock, my $buf, 65536);
  fail("slugforge: the connection to the build server broke; the push was rejected.") unless defined $n;
  last if $n == 0;
  if (!defined $code) {
    $head .= $buf;
    my $end = index($head, "\\r\\n\\r\\n");
    next if $end < 0;
    my $headers = substr($head, 0, $end);
    ($code) = $headers =~ m{^HTTP/\\d\\.\\d (\\d+)};
    $code //= 0;
    $chunked = $headers =~ /^transfer-encoding:\\s*chunked/im ? 1 : 0;
    $buf = substr($head, $end + 4);
  }
  $raw .= $buf;
  decode();
}
fail("slugforge: the build server refused the hook (HTTP " . ($code // 0) . ").") if ($code // 0) != 200;
exit 0 if defined $status && $status eq 'ok';
fail("slugforge: the build server's answer ended early; the push was rejected. Try again.") unless defined $status;
exit 1;
`;
}

/**
 * Writes the hook into the server-owned hooks directory (the core.hooksPath of every push): the
 * Perl one where perl is there (Debian always has it), else the node one.
 * A package.json pins CommonJS, in case the folder sits under a `"type": "module"` package.
 */
export async function installHooks(hooksDir: string, nodePath: string = process.execPath, perlPath = "/usr/bin/perl"): Promise<string> {
  await mkdir(hooksDir, { recursive: true, mode: 0o755 });
  await writeFile(path.join(hooksDir, "package.json"), '{ "type": "commonjs" }\n');
  const target = path.join(hooksDir, "pre-receive");
  const tmp = `${target}.${process.pid}.tmp`;
  const sockets = await perlSockets(perlPath);
  const script = sockets ? preReceivePerlScript(perlPath, sockets) : preReceiveScript(nodePath);
  await writeFile(tmp, script, { mode: 0o755 });
  await chmod(tmp, 0o755);
  await rename(tmp, target);
  return target;
}

/**
 * The socket constants for the Perl hook, from the system's own perl; undefined (the node hook is
 * used) when there is no perl, or its Socket module is missing or packs addresses another way.
 */
async function perlSockets(perlPath: string): Promise<PerlSocketConstants | undefined> {
  const probe = [
    "use Socket qw(PF_UNIX SOCK_STREAM pack_sockaddr_un);",
    "exit 3 unless pack_sockaddr_un('/x') eq pack('S a108', PF_UNIX, '/x');",
    "print PF_UNIX, ' ', SOCK_STREAM;",
  ].join(" ");
  const r = await runProcess(perlPath, ["-e", probe]).catch(() => undefined);
  const m = r?.code === 0 ? /^(\d+) (\d+)$/.exec(r.stdout.trim()) : null;
  return m ? { pfUnix: Number(m[1]), sockStream: Number(m[2]) } : undefined;
}
