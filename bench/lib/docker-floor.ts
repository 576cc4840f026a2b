import { ok, quote, sh } from "./proc.js";

const CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface FloorTimes {
  readonly totalMs: number;
  readonly steps: Record<string, number>;
}

/**
 * The floor for a push: what a person would run by hand with the docker CLI to build the same
 * source with the same buildpack under the same limits (build image, user slug, network none,
 * capabilities dropped, memory/CPU/pids capped), then `tar -czf` of /app to a file on the host.
 * No git, no queue, no records: the least any build server must spend.
 */
export async function dockerFloor(options: { appDir: string; slugFile: string; buildpacksDir: string; buildpack?: string; stack?: string }): Promise<FloorTimes> {
  const stack = options.stack ?? "debian-13";
  const bp = options.buildpack ?? "python";
  const steps: Record<string, number> = {};
  const started = performance.now();
  const step = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    try {
      return await fn();
    } finally {
      steps[name] = (steps[name] ?? 0) + performance.now() - t;
    }
  };
  const id = await step("container", async () =>
    (
      await ok("docker", [
        "run", "-d", "--network", "none", "--user", "slug", "--workdir", "/app",
        "--memory", "2g", "--memory-swap", "2g", "--cpus", "2", "--pids-limit", "1024",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--label", "org.slugforge.bench=floor",
        `slugforge/stack:${stack}-build`, "sleep", "infinity",
      ])
    ).stdout.trim(),
  );
  try {
    const env = [
      "env", "-i", `STACK=${stack}`, "SOURCE_VERSION=0123456789abcdef0123456789abcdef01234567", "HOME=/app",
      "REQUEST_ID=bench-floor", "BUILD_DIR=/app", `PATH=${CLEAN_PATH}`, "LANG=C.UTF-8",
    ];
    const exec = (args: string[]): Promise<unknown> => ok("docker", ["exec", "-u", "slug", "-w", "/app", id, ...env, ...args]);
    const owner = "--owner=1000 --group=1000 --numeric-owner";
    await step("source + buildpack in", async () => {
      await sh(`tar -cf - ${owner} --exclude=.git -C ${quote(options.appDir)} . | docker cp -q - ${id}:/app`);
      await sh(`tar -cf - ${owner} --transform 's,^${bp},buildpacks/0-${bp},' -C ${quote(options.buildpacksDir)} ${bp} | docker cp -q - ${id}:/tmp`);
      await ok("docker", ["exec", "-u", "slug", id, "mkdir", "-p", "/tmp/env", `/tmp/cache/${bp}`]);
    });
    const dir = `/tmp/buildpacks/0-${bp}`;
    await step("detect", () => exec([`${dir}/bin/detect`, "/app"]));
    await step("compile", () => exec([`CACHE_DIR=/tmp/cache/${bp}`, "ENV_DIR=/tmp/env", `${dir}/bin/compile`, "/app", `/tmp/cache/${bp}`, "/tmp/env"]));
    await step("release", () => exec([`${dir}/bin/release`, "/app"]));
    await step("tar -czf /app", () => sh(`docker exec -u slug ${id} tar -czf - -C / app > ${quote(options.slugFile)}`));
  } finally {
    await step("remove", () => ok("docker", ["rm", "-f", id]));
  }
  return { totalMs: performance.now() - started, steps };
}
