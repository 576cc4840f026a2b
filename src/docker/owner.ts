import { readFileSync, readlinkSync } from "node:fs";

/**
 * Who made a container: every container slugforge creates carries OWNER_LABEL with the making
 * process's identity (this machine's boot id, its pid namespace, its pid and the pid's start
 * time). Any later slugforge process on the same engine removes containers whose owner is provably
 * gone (same boot, same pid namespace, and that pid is dead or is another process now), whatever
 * data folder either used. A process in another pid namespace (slugforge in a container, or one
 * on the host seen from a container) cannot be judged by its pid: its containers are left alone.
 */
export const OWNER_LABEL = "org.slugforge.owner";

/** The inode of the first pid namespace (the host's), the kernel's PROC_PID_INIT_INO. */
const HOST_PID_NAMESPACE = "4026531836";

let self: string | undefined;

/** This process as an owner label value: `<boot id>/<pid namespace>/<pid>/<start time in clock ticks>`. */
export function processOwner(): string {
  self ??= `${bootId() ?? "unknown"}/${pidNamespace() ?? "0"}/${process.pid}/${startTime(process.pid) ?? "0"}`;
  return self;
}

/**
 * True when the owner named by a label value is certainly not running any more; false when it is,
 * or when this process cannot tell (another machine, another pid namespace, a label it does not
 * understand). Labels written before the namespace was part of them (`<boot>/<pid>/<start>`) came
 * from processes on the host.
 */
export function ownerGone(owner: string): boolean {
  const m = /^([0-9a-f-]+)\/(?:(\d+)\/)?(\d+)\/(\d+)$/.exec(owner);
  const boot = bootId();
  if (!m || !boot || m[1] !== boot) return false;
  const ns = pidNamespace();
  if (!ns || (m[2] ?? HOST_PID_NAMESPACE) !== ns) return false;
  const started = startTime(Number(m[3]));
  return started === undefined || started !== m[4];
}

/** `pid:[4026531836]` -> `4026531836`. */
function pidNamespace(): string | undefined {
  try {
    return /\[(\d+)\]/.exec(readlinkSync("/proc/self/ns/pid"))?.[1];
  } catch {
    return undefined;
  }
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
