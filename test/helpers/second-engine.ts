import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, openSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createDockerRuntime } from "../../src/docker/dockerode-runtime.js";
import { runProcess } from "../../src/util/run-process.js";
import { until } from "./until.js";

/**
 * A second Docker engine on this machine, for the build engine pool's tests: Debian's `dockerd`
 * with its own socket, data root, exec root (where it starts its own containerd, apart from the
 * main engine's) and pid file, all in one short temp folder (unix socket paths are limited to 108
 * bytes); no iptables rules. Its default bridge is one of its own, made here (`sfe` and six hex
 * digits, a private /24): with `--bridge none` dockerd deletes the host's `docker0` at start,
 * which cuts the main engine's bridge network from under it. It can be stopped (an engine taken
 * away mid-build) and started again on the same folders; remove() stops it and deletes everything
 * it had, its bridge included.
 */
export interface SecondEngine {
  /** `unix://<dir>/e.sock`, as SLUGFORGE_BUILD_ENGINES takes it. */
  readonly url: string;
  readonly dir: string;
  start(): Promise<void>;
  /** SIGTERM, as `systemctl stop docker` does; resolves once dockerd (and its containerd) have exited. */
  stop(): Promise<void>;
  remove(): Promise<void>;
  log(): Promise<string>;
}

export async function createSecondEngine(): Promise<SecondEngine> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "sf-eng-"));
  const sock = path.join(dir, "e.sock");
  const url = `unix://${sock}`;
  const logFile = path.join(dir, "dockerd.log");
  const config = path.join(dir, "daemon.json");
  // An empty config of its own: the host's /etc/docker/daemon.json is the main engine's.
  await writeFile(config, "{}\n");
  const suffix = randomBytes(3);
  const bridge = `sfe${suffix.toString("hex")}`;
  await ip(["link", "add", "name", bridge, "type", "bridge"]);
  try {
    await ip(["addr", "add", `10.199.${suffix[0]}.1/24`, "dev", bridge]);
    await ip(["link", "set", bridge, "up"]);
  } catch (err) {
    await ip(["link", "del", bridge]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const containerdPid = async (): Promise<number | undefined> => {
    const text = await readFile(path.join(dir, "x", "containerd", "containerd.pid"), "utf8").catch(() => "");
    const pid = Number(text.trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  };
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  const engine: SecondEngine = {
    url,
    dir,
    async start() {
      if (child && child.exitCode === null && child.signalCode === null) throw new Error("the second dockerd is running already; stop() it first");
      const fd = openSync(logFile, "a");
      const started = spawn(
        "dockerd",
        [
          "-H", url,
          "--data-root", path.join(dir, "root"),
          "--exec-root", path.join(dir, "x"),
          "--pidfile", path.join(dir, "dockerd.pid"),
          "--config-file", config,
          "--bridge", bridge,
          "--iptables=false",
          "--ip-masq=false",
          "--ip-forward=false",
        ],
        { stdio: ["ignore", fd, fd] },
      );
      closeSync(fd);
      child = started;
      let gone = false;
      let missing = false;
      exited = new Promise<void>((resolve) => {
        started.once("exit", () => {
          gone = true;
          resolve();
        });
        started.once("error", (err: NodeJS.ErrnoException) => {
          gone = true;
          missing = err.code === "ENOENT";
          resolve();
        });
      });
      const runtime = createDockerRuntime({ dockerHost: url });
      await until(async () => {
        if (missing) throw new Error("dockerd is not installed (`slugforge setup` installs Debian's docker.io)");
        if (gone) throw new Error(`the second dockerd exited at start:\n${(await engine.log()).slice(-3000)}`);
        return runtime.ping().then(() => true, () => false);
      }, 60_000);
    },
    async stop() {
      const running = child;
      child = undefined;
      if (running && running.exitCode === null && running.signalCode === null) {
        running.kill("SIGTERM");
        const timer = setTimeout(() => running.kill("SIGKILL"), 40_000);
        await exited;
        clearTimeout(timer);
      }
      // dockerd stops its containerd on the way out; after a SIGKILL that is ours to do.
      const pid = await containerdPid();
      if (pid !== undefined && alive(pid)) {
        process.kill(pid, "SIGTERM");
        await until(() => !alive(pid), 20_000).catch(() => process.kill(pid, "SIGKILL"));
      }
    },
    async remove() {
      await engine.stop();
      // dockerd bind-mounts its data root onto itself (and containers' layers below it); one that
      // did not get to unmount them leaves them, and rm cannot go through a mount point.
      const mounts = (await readFile("/proc/mounts", "utf8"))
        .split("\n")
        .map((line) => line.split(" ")[1] ?? "")
        .filter((point) => point === dir || point.startsWith(`${dir}/`))
        .sort((a, b) => b.length - a.length);
      for (const point of mounts) await runProcess("umount", [point]);
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
      await ip(["link", "del", bridge]).catch(() => undefined);
    },
    log: () => readFile(logFile, "utf8").catch(() => ""),
  };
  return engine;
}

async function ip(args: readonly string[]): Promise<void> {
  const done = await runProcess("ip", args);
  if (done.code !== 0) throw new Error(`ip ${args.join(" ")} failed (${done.code}): ${done.stderr.trim()}`);
}
