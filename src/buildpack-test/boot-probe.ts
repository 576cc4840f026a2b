import { PassThrough, type Readable } from "node:stream";
import type { ContainerRuntime, Mount } from "../docker/container-runtime.js";
import type { NetworkMode } from "../config/parse-config.js";

export interface BootOptions {
  readonly stack: string;
  readonly network: NetworkMode;
  readonly mounts: readonly Mount[];
  /** The process's command (Procfile or default_process_types). */
  readonly command: string;
  readonly processType: string;
  readonly path: string;
  /** Config vars: the dyno's environment. */
  readonly env: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
  readonly labels: Readonly<Record<string, string>>;
  /** Shell run inside the dyno after the request; its output goes to the log. */
  readonly afterRequest?: string;
}

export interface BootAnswer {
  /** 0 when the process never answered. */
  readonly status: number;
  readonly body: string;
  /** The probe script's and the process's own output. */
  readonly log: string;
}

const MARK = "=====slugforge-probe-response=====";
const CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * Runs a slug's process on the stack's run image as a dyno would (slug unpacked at /app,
 * .profile.d sourced, PORT set) and asks it for a page from inside the container, so the probe
 * works with network none. The container is removed whatever happens.
 */
export async function bootAndProbe(runtime: ContainerRuntime, slug: Readable, options: BootOptions): Promise<BootAnswer> {
  const container = await runtime.start({
    image: `slugforge/stack:${options.stack}-run`,
    user: "slug",
    workdir: "/",
    network: options.network,
    mounts: options.mounts,
    memoryBytes: 1024 ** 3,
    pidsLimit: 512,
    hardened: true,
    labels: options.labels,
  });
  const onAbort = (): void => void container.remove().catch(() => undefined);
  options.signal.addEventListener("abort", onAbort, { once: true });
  try {
    // The engine unpacks gzip itself; a slug's entries are ./app/...
    await container.putArchive(slug, "/");
    const stdout = text();
    const stderr = text();
    await container.exec(["env", "-i", ...Object.entries(dynoEnv(options)).map(([k, v]) => `${k}=${v}`), "bash", "-c", probeScript(options)], {
      user: "slug",
      workdir: "/app",
      stdout: stdout.stream,
      stderr: stderr.stream,
      signal: options.signal,
    });
    return parseAnswer(stdout.value(), stderr.value());
  } finally {
    options.signal.removeEventListener("abort", onAbort);
    await container.remove();
  }
}

function dynoEnv(options: BootOptions): Record<string, string> {
  return { ...options.env, HOME: "/app", PORT: "5000", DYNO: `${options.processType}.1`, PATH: CLEAN_PATH, LANG: "C.UTF-8", STACK: options.stack };
}

/** bash only: the run image has no curl. The answer follows a marker line on stdout. */
export function probeScript(options: Pick<BootOptions, "command" | "path" | "timeoutMs" | "afterRequest">): string {
  const seconds = Math.max(1, Math.ceil(options.timeoutMs / 1000));
  const request = `GET ${options.path} HTTP/1.0\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n`;
  return `
cd /app
for f in .profile.d/*.sh; do if [ -f "$f" ]; then . "$f"; fi; done
( exec bash -c ${shellQuote(options.command)} ) >/tmp/process.log 2>&1 &
pid=$!
deadline=$((SECONDS + ${seconds}))
answered=0
while ((SECONDS < deadline)); do
  if ! kill -0 "$pid" 2>/dev/null; then echo "the process exited before answering" >&2; break; fi
  if exec 3<>/dev/tcp/127.0.0.1/"$PORT"; then
    printf '${request}' >&3
    echo "${MARK}"
    timeout 10 cat <&3
    exec 3<&-
    answered=1
    break
  fi 2>/dev/null
  sleep 0.2
done
[ "$answered" = 1 ] || echo "no answer on port $PORT within ${seconds}s" >&2
{
:
${options.afterRequest ?? ""}
} >&2
echo "----- process output -----" >&2
cat /tmp/process.log >&2
`;
}

export function parseAnswer(stdout: string, stderr: string): BootAnswer {
  const i = stdout.indexOf(MARK);
  if (i < 0) return { status: 0, body: "", log: stdout + stderr };
  const response = stdout.slice(i + MARK.length + 1);
  const status = Number(/^HTTP\/\d(?:\.\d)? (\d{3})/.exec(response)?.[1] ?? 0);
  const split = response.indexOf("\r\n\r\n");
  return { status, body: split >= 0 ? response.slice(split + 4) : "", log: stdout.slice(0, i) + stderr };
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function text(): { stream: PassThrough; value(): string } {
  const parts: Buffer[] = [];
  const stream = new PassThrough();
  stream.on("data", (b: Buffer) => parts.push(b));
  return { stream, value: () => Buffer.concat(parts).toString("utf8") };
}
