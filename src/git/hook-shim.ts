import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ownFolder } from "../util/own-folder.js";
import { runProcess } from "../util/run-process.js";
import { CONTROL_PREFIX, HOOK_ENV, PRE_RECEIVE_PATH } from "./hook-protocol.js";

/**
 * The pre-receive hook programs are files in the repository's hooks/ folder, real programs their
 * linters read (perl -c, ESLint): hooks/pre-receive.pl, which starts in about 2 ms and is used
 * wherever the system perl can run it, and hooks/pre-receive.cjs, node's, where it can't. Installing
 * one copies it with its shebang set to the interpreter found here and each line marked
 * `slugforge:constant` set from hook-protocol.ts (and, for Perl, from the system's socket headers).
 */
export type HookKind = "perl" | "node";

const HOOK_FILES: Readonly<Record<HookKind, string>> = { perl: "pre-receive.pl", node: "pre-receive.cjs" };

/** The numbers the Perl hook needs from the system's socket headers, asked of perl's Socket at install time. */
export interface PerlSocketConstants {
  readonly pfUnix: number;
  readonly sockStream: number;
}

/** hooks/ beside src/ (or dist/), found as slugforge's own folders are (util/own-folder.ts). */
export function hookProgramsDir(): string {
  const dir = ownFolder("hooks", HOOK_FILES.perl);
  if (!dir) throw new Error(`slugforge's hooks/ folder (with ${HOOK_FILES.perl}) is not above ${path.dirname(fileURLToPath(import.meta.url))}`);
  return dir;
}

/** The value of each constant line in a hook program, written in its language. */
export function hookConstants(kind: HookKind, sockets?: PerlSocketConstants): Record<string, string> {
  const values: Record<string, string | number> = {
    CONTROL: CONTROL_PREFIX,
    ROUTE: PRE_RECEIVE_PATH,
    SOCKET_VAR: HOOK_ENV.socket,
    TOKEN_VAR: HOOK_ENV.token,
    APP_VAR: HOOK_ENV.app,
    IDLE_TIMEOUT_VAR: HOOK_ENV.idleTimeoutMs,
  };
  if (kind === "perl") {
    if (!sockets) throw new Error("the Perl hook needs the system's socket constants");
    values.PF_UNIX = sockets.pfUnix;
    values.SOCK_STREAM = sockets.sockStream;
  }
  const literal = kind === "perl" ? perlLiteral : (v: string | number) => JSON.stringify(v);
  return Object.fromEntries(Object.entries(values).map(([name, v]) => [name, literal(v)]));
}

/** A Perl literal for a value: numbers as they are, strings double-quoted with nothing interpolated. */
function perlLiteral(value: string | number): string {
  if (typeof value === "number") return String(value);
  const escaped = value.replace(/[\\"$@]/g, "\\$&").replace(/[^\x20-\x7e]/g, (c) => `\\x{${c.charCodeAt(0).toString(16).padStart(2, "0")}}`);
  return `"${escaped}"`;
}

/** `my $NAME = value;  # slugforge:constant` (Perl) or `const NAME = value; // slugforge:constant` (node). */
const CONSTANT_LINE = /^((?:my \$|const )([A-Z][A-Z0-9_]*) = )(.*?)(;\s*(?:#|\/\/) slugforge:constant)$/;

/**
 * A hook program as installed: the first line becomes `shebang`, each marked constant line gets its
 * value from `constants`, every other line stays as it is. Throws when the file and the constants
 * disagree (a marked line with no value, a value with no line), so a rename fails at start, not on
 * a push.
 */
export function renderHookProgram(program: string, shebang: string, constants: Readonly<Record<string, string>>): string {
  const lines = program.split("\n");
  if (!lines[0]?.startsWith("#!") || !shebang.startsWith("#!")) throw new Error("a hook program starts with a #! line");
  lines[0] = shebang;
  const unused = new Set(Object.keys(constants));
  for (let i = 1; i < lines.length; i++) {
    const m = CONSTANT_LINE.exec(lines[i] ?? "");
    if (!m) continue;
    const [, head = "", name = "", , tail = ""] = m;
    const value = constants[name];
    if (value === undefined) throw new Error(`hook constant ${name} has no value`);
    unused.delete(name);
    lines[i] = `${head}${value}${tail}`;
  }
  if (unused.size > 0) throw new Error(`hook program has no constant line for ${[...unused].join(", ")}`);
  return lines.join("\n");
}

/**
 * Writes the hook into the server-owned hooks directory (the core.hooksPath of every push): the
 * Perl one where perl is there and packs socket addresses as the hook does (Debian always has it),
 * else the node one. A package.json pins CommonJS, in case the folder sits under a
 * `"type": "module"` package.
 */
export async function installHooks(hooksDir: string, nodePath: string = process.execPath, perlPath = "/usr/bin/perl"): Promise<string> {
  await mkdir(hooksDir, { recursive: true, mode: 0o755 });
  await writeFile(path.join(hooksDir, "package.json"), '{ "type": "commonjs" }\n');
  const target = path.join(hooksDir, "pre-receive");
  const tmp = `${target}.${process.pid}.tmp`;
  const sockets = await perlSockets(perlPath);
  const kind: HookKind = sockets ? "perl" : "node";
  const program = await readFile(path.join(hookProgramsDir(), HOOK_FILES[kind]), "utf8");
  const script = renderHookProgram(program, `#!${kind === "perl" ? perlPath : nodePath}`, hookConstants(kind, sockets));
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
