import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { CONTROL_PREFIX, HOOK_ENV, PRE_RECEIVE_PATH } from "../../../src/git/hook-protocol.js";
import { hookConstants, hookProgramsDir, renderHookProgram, type HookKind } from "../../../src/git/hook-shim.js";

const LINUX_SOCKETS = { pfUnix: 1, sockStream: 1 };
const read = (file: string): string => readFileSync(path.join(hookProgramsDir(), file), "utf8");

describe.each<{ kind: HookKind; file: string; comment: string }>([
  { kind: "perl", file: "pre-receive.pl", comment: "#" },
  { kind: "node", file: "pre-receive.cjs", comment: "//" },
])("hooks/$file", ({ kind, file, comment }) => {
  it("holds the protocol's values as it sits, so installing it only sets the shebang (and the system's socket numbers)", () => {
    const program = read(file);
    expect(renderHookProgram(program, program.split("\n")[0] ?? "", hookConstants(kind, LINUX_SOCKETS))).toBe(program);
  });

  it("is installed with its shebang and every marked constant replaced", () => {
    const constants = Object.fromEntries(Object.keys(hookConstants(kind, LINUX_SOCKETS)).map((name) => [name, `${name}_VALUE`]));
    const installed = renderHookProgram(read(file), "#!/opt/bin/interp", constants).split("\n");
    expect(installed[0]).toBe("#!/opt/bin/interp");
    const marked = installed.filter((l) => l.endsWith(`${comment} slugforge:constant`));
    expect(marked.map((l) => /= (\w+);/.exec(l)?.[1])).toEqual(Object.keys(constants).map((name) => `${name}_VALUE`));
  });
});

describe("renderHookProgram", () => {
  const program = '#!/usr/bin/perl\nmy $A = "x"; # slugforge:constant\nprint $A;\n';
  it("refuses a constant the file lacks, and a marked line without a value", () => {
    expect(() => renderHookProgram(program, "#!/usr/bin/perl", { A: '"y"', B: "1" })).toThrow(/no constant line for B/);
    expect(() => renderHookProgram(program, "#!/usr/bin/perl", {})).toThrow(/A has no value/);
  });
  it("writes Perl literals that perl reads back as the protocol's values", () => {
    const constants = hookConstants("perl", LINUX_SOCKETS);
    expect(constants.CONTROL).toBe('"\\x{00}SLUGFORGE-"');
    const printed = execFileSync("perl", ["-e", `print join("\\n", ${Object.values(constants).join(", ")})`], { encoding: "utf8" });
    expect(printed.split("\n")).toEqual([CONTROL_PREFIX, PRE_RECEIVE_PATH, ...Object.values(HOOK_ENV), "1", "1"]);
  });
});
