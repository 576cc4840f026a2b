import { readFileSync } from "node:fs";

/**
 * Who made a container: every container slugforge creates carries OWNER_LABEL with the making
 * process's identity (this machine's boot id, its pid and the pid's start time). Any later
 * slugforge process on the same engine removes containers whose owner is provably gone (same
 * boot, and that pid is dead or is another process now), whatever data folder either used.
 */
export const OWNER_LABEL = "org.slugforge.owner";

let self: string | undefined;

/** This process as an owner label value: `<boot id>/<pid>/<start time in clock ticks>`. */
export function processOwner(): string {
  self ??= `${bootId() ?? "unknown"}/${process.pid}/${startTime(process.pid) ?? "0"}`;
  return self;
}

/**
 * True when the owner named by a label value is certainly not running any more; false when it is,
 * or when this process cannot tell (another machine, a label it does not understand).
 */
export function ownerGone(owner: string): boolean {
  const m = /^([0-9a-f-]+)\/(\d+)\/(\d+)$/.exec(owner);
  const boot = bootId();
  if (!m || !boot || m[1] !== boot) return false;
  const started = startTime(Number(m[2]));
  return started === undefined || started !== m[3];
}

function bootId(): string | undefined {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/<pid>/stat (after the command name, which may hold spaces and parentheses). */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}
