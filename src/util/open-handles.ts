import { ChildProcess } from "node:child_process";
import net from "node:net";

/**
 * What keeps the event loop alive, each said as well as Node lets us: child processes with their
 * command line, sockets with their peer, servers with their address; timers and the rest by kind
 * (process.getActiveResourcesInfo). For the report of a leak that keeps a stopped server running.
 */
export function openHandles(): string[] {
  const work = [...openWork].map((label) => `open work: ${label}`);
  const handles = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles?.() ?? [];
  const said = handles.map((h): string => {
    if (h instanceof ChildProcess) return `child process ${h.pid ?? "?"} (${h.spawnargs.join(" ").slice(0, 200)})`;
    if (h instanceof net.Socket) return describeSocket(h);
    if (h instanceof net.Server) return `server on ${JSON.stringify(h.address())}`;
    return (h as object | null)?.constructor?.name ?? typeof h;
  });
  const others = process.getActiveResourcesInfo().filter((kind) => kind !== "TCPSocketWrap" && kind !== "PipeWrap" && kind !== "TCPServerWrap" && kind !== "PipeServerWrap" && kind !== "ProcessWrap");
  return [...work, ...said, ...others];
}

const openWork = new Set<string>();

/**
 * Names a piece of work that holds a handle Node cannot describe (an engine exec's hijacked
 * connection, say) for the report, until the returned function is called.
 */
export function markOpen(label: string): () => void {
  const entry = `${label} (since ${new Date().toISOString()})`;
  openWork.add(entry);
  return () => openWork.delete(entry);
}

/** A socket by its peer, the HTTP request it carries (a client's), or the server that accepted it. */
function describeSocket(socket: net.Socket): string {
  const peer = socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort ?? ""}` : "a local socket";
  const inner = socket as net.Socket & { _httpMessage?: { method?: string; path?: string; host?: string }; server?: net.Server | null };
  const parts = [`socket to ${peer}`];
  if (inner._httpMessage?.path) parts.push(`carrying ${inner._httpMessage.method ?? "?"} ${inner._httpMessage.path.slice(0, 200)}`);
  if (inner.server) parts.push(`accepted by the server on ${JSON.stringify(inner.server.address())}`);
  if (socket.destroyed) parts.push("destroyed");
  else parts.push(`${socket.readyState}, ${socket.bytesRead} bytes read`);
  return parts.join(", ");
}
