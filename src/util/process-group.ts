/** `sig` to the process group `pgid`; false when none of it is left (ESRCH). */
export function signalProcessGroup(pgid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, sig);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM to a process group, SIGKILL a little later if it is still there. */
export function killProcessGroup(pid: number | undefined, graceMs = 2000): void {
  if (pid === undefined) return;
  if (!signalProcessGroup(pid, "SIGTERM")) return;
  const timer = setTimeout(() => signalProcessGroup(pid, "SIGKILL"), graceMs);
  timer.unref();
}

/** True while any process of the group is alive. */
export function processGroupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * killProcessGroup for a child that may not have its pid yet (one the process helper is starting):
 * its group is stopped as soon as it has started.
 */
export function killChildGroup(
  child: { readonly pid?: number | undefined; readonly exitCode: number | null; readonly signalCode: NodeJS.Signals | null; once(event: "spawn", listener: () => void): unknown },
  graceMs?: number,
): void {
  if (child.pid !== undefined) killProcessGroup(child.pid, graceMs);
  else if (child.exitCode === null && child.signalCode === null) child.once("spawn", () => killProcessGroup(child.pid, graceMs));
}
