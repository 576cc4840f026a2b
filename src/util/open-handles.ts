import { ChildProcess } from "node:child_process";
import net from "node:net";

/**
 * What keeps the event loop alive, each said as well as Node lets us: child processes with their
 * command line, sockets with their peer, servers with their address; timers and the rest by kind
 * (process.getActiveResourcesInfo). For the report of a leak that keeps a stopped server running.
 */
export function openHandles(): string[] {
  const handles = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles?.() ?? [];
  const said = handles.map((h): string => {
    if (h instanceof ChildProcess) return `child process ${h.pid ?? "?"} (${h.spawnargs.join(" ").slice(0, 200)})`;
    if (h instanceof net.Socket) return `socket to ${h.remoteAddress ?? "a local socket"}${h.remotePort ? `:${h.remotePort}` : ""}${h.destroyed ? " (destroyed)" : ""}`;
    if (h instanceof net.Server) return `server on ${JSON.stringify(h.address())}`;
    return (h as object | null)?.constructor?.name ?? typeof h;
  });
  const others = process.getActiveResourcesInfo().filter((kind) => kind !== "TCPSocketWrap" && kind !== "PipeWrap" && kind !== "TCPServerWrap" && kind !== "PipeServerWrap" && kind !== "ProcessWrap");
  return [...said, ...others];
}
