import { spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { ContainerRuntime } from "../docker/container-runtime.js";
import { SlugforgeError } from "../errors.js";
import { hasCommand, runProcess } from "../util/run-process.js";
import { untimed, type Step } from "../util/step-timer.js";

export interface HostSetupOptions {
  readonly runtime: ContainerRuntime;
  /** Where dockerd's own log goes when we start it. */
  readonly logDir: string;
  /** Prints each action for the person running the command. */
  readonly say: (line: string) => void;
  /** Also make sure debootstrap is there (needed to build stack images). */
  readonly needDebootstrap?: boolean;
  readonly engineWaitMs?: number;
  /** Times the steps (setup prints them); untimed when absent. */
  readonly step?: Step;
}

/** What the host has before setup does anything: decides what can run side by side. */
export interface HostState {
  /** The engine's version when it answers. */
  readonly engine: string | undefined;
  readonly dockerdInstalled: boolean;
  readonly debootstrapInstalled: boolean;
}

export async function probeHost(runtime: ContainerRuntime): Promise<HostState> {
  const [engine, dockerdInstalled, debootstrapInstalled] = await Promise.all([
    runtime.ping().then((p) => p.version, () => undefined),
    hasCommand("dockerd"),
    hasCommand("debootstrap"),
  ]);
  return { engine, dockerdInstalled, debootstrapInstalled };
}

/**
 * Makes sure a Docker engine answers (installing Debian's docker.io and starting dockerd where
 * needed) and that debootstrap is present. Idempotent: on a ready host it only checks.
 */
export async function ensureHost(options: HostSetupOptions): Promise<void> {
  const { runtime, say } = options;
  const step = options.step ?? untimed;
  const engine = await runtime.ping().catch(() => undefined);
  // On a new machine both are missing: one apt-get run (one package list update) installs both.
  const wantDebootstrap = options.needDebootstrap !== false && !(await hasCommand("debootstrap"));
  if (engine) {
    say(`docker engine: answering (version ${engine.version})`);
  } else {
    if (!(await hasCommand("dockerd"))) {
      say(`docker engine: not installed; installing Debian's docker.io${wantDebootstrap ? " (and debootstrap with it)" : ""}`);
      await aptInstall(wantDebootstrap ? ["docker.io", "debootstrap"] : ["docker.io"], say, step);
    }
    say("docker engine: installed but not running; starting dockerd");
    const version = await step("start dockerd (until it answers)", () => {
      startDockerd(options.logDir);
      return waitForEngine(runtime, options.engineWaitMs ?? 60_000);
    });
    say(`docker engine: answering (version ${version})`);
  }
  if (options.needDebootstrap !== false) await ensureDebootstrap(options);
}

/** debootstrap, installed (one small package) when missing. */
export async function ensureDebootstrap(options: Pick<HostSetupOptions, "say" | "step">): Promise<void> {
  if (await hasCommand("debootstrap")) options.say("debootstrap: present");
  else {
    options.say("debootstrap: missing; installing it");
    await aptInstall(["debootstrap"], options.say, options.step ?? untimed);
  }
}

// One `apt-get update` per process: setup may install debootstrap and docker.io in two runs.
let listsUpdated = false;

async function aptInstall(packages: string[], say: (line: string) => void, step: Step): Promise<void> {
  const why = cannotInstall();
  if (why) {
    throw new SlugforgeError("HOST_SETUP_FAILED", `${packages.join(", ")} is needed but ${why}. Install it yourself (as root: apt-get install ${packages.join(" ")}), or set SLUGFORGE_SKIP_HOST_SETUP=1 if you manage Docker yourself.`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  if (!listsUpdated) {
    say("  apt-get update");
    const update = await step("apt-get update", () => runProcess("apt-get", ["update"], { env }));
    if (update.code !== 0) say(`  apt-get update failed (${lastLine(update.stderr)}); trying the install with the lists we have`);
    listsUpdated = true;
  }
  say(`  apt-get install -y ${packages.join(" ")}`);
  const install = await step(`apt-get install ${packages.join(" ")}`, () => runProcess("apt-get", ["install", "-y", "--no-install-recommends", ...packages], { env }));
  if (install.code !== 0) {
    throw new SlugforgeError("HOST_SETUP_FAILED", `apt-get install ${packages.join(" ")} failed: ${lastLine(install.stderr || install.stdout)}`);
  }
}

function cannotInstall(): string | undefined {
  if (typeof process.getuid === "function" && process.getuid() !== 0) return "slugforge is not running as root";
  if (!existsSync("/etc/debian_version")) return "this is not a Debian system";
  return undefined;
}

function startDockerd(logDir: string): void {
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    throw new SlugforgeError("DOCKER_UNAVAILABLE", "dockerd is installed but not running, and only root can start it. Start it yourself (systemctl start docker, or sudo dockerd &).");
  }
  mkdirSync(logDir, { recursive: true });
  const log = openSync(path.join(logDir, "dockerd.log"), "a");
  // Detached, in its own session: the engine outlives this command and the server.
  const child = spawn("dockerd", [], { detached: true, stdio: ["ignore", log, log] });
  child.unref();
}

async function waitForEngine(runtime: ContainerRuntime, waitMs: number): Promise<string> {
  const deadline = Date.now() + waitMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      return (await runtime.ping()).version;
    } catch (err) {
      lastError = err;
      await sleep(250);
    }
  }
  throw new SlugforgeError("DOCKER_UNAVAILABLE", `dockerd was started but its API did not answer within ${waitMs / 1000} s; see its log`, { cause: lastError });
}

function lastLine(text: string): string {
  return text.trim().split("\n").slice(-1)[0] ?? "";
}
