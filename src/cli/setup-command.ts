import path from "node:path";
import type { Config } from "../config/parse-config.js";
import { createStepTimer } from "../util/step-timer.js";

/**
 * `slugforge setup`: a Docker engine that answers, debootstrap, the stack images; each step's
 * time printed as it ends and all of them in a table at the end (steps that overlap ran side by
 * side).
 *
 * On a machine without dockerd the engine cannot hold any image yet, so the stack's root
 * filesystems need not wait for it: debootstrap is installed first (one small package), then
 * docker.io is installed and started while debootstrap runs, and only the imports wait for the
 * engine. Where dockerd is installed (running or not) the images may be there: the engine comes
 * first and up-to-date images are kept.
 */
export async function setupCommand(args: readonly string[], config: Config, env: NodeJS.ProcessEnv, say: (line: string) => void): Promise<number> {
  if (args.includes("--help")) {
    say(`Usage: slugforge setup [--no-stack]

Makes sure this host can build: a Docker engine that answers (on Debian, as root, installs
docker.io and starts dockerd where needed), debootstrap, and the stack images. Prints each
step's time. SLUGFORGE_SKIP_HOST_SETUP=1 skips installing and starting anything (only checks
the engine).`);
    return 0;
  }
  const timer = createStepTimer(say);
  const { step } = timer;
  const [{ createDockerRuntime }, { ensureDebootstrap, ensureHost, probeHost }, { buildStack }] = await Promise.all([
    import("../docker/dockerode-runtime.js"),
    import("../host/setup.js"),
    import("../stack/build-stack.js"),
  ]);
  const runtime = createDockerRuntime({ dockerHost: config.dockerHost });
  const wantStack = !args.includes("--no-stack");
  const stackOptions = { runtime, workDir: path.join(config.dataDir, "stack"), say, mirror: env.SLUGFORGE_DEBIAN_MIRROR, step };
  const hostOptions = { runtime, logDir: path.join(config.dataDir, "logs"), say, step, needDebootstrap: wantStack };
  const skipHost = env.SLUGFORGE_SKIP_HOST_SETUP === "1";
  const host = skipHost ? undefined : await probeHost(runtime);
  if (skipHost) {
    const { version } = await runtime.ping();
    say(`host setup skipped (SLUGFORGE_SKIP_HOST_SETUP=1); docker engine ${version} answers`);
    if (wantStack) await buildStack(config.stack, stackOptions);
  } else if (wantStack && host && !host.engine && !host.dockerdInstalled) {
    say("docker engine: not installed; it is installed and started while the stack's root filesystems are made");
    await ensureDebootstrap(hostOptions);
    const engine = ensureHost({ ...hostOptions, needDebootstrap: false });
    const stack = buildStack(config.stack, { ...stackOptions, freshEngine: engine });
    // Both settle before the command ends (the stack's scratch folders are removed on its way out).
    const [e, s] = await Promise.allSettled([engine, stack]);
    if (e.status === "rejected") throw e.reason;
    if (s.status === "rejected") throw s.reason;
  } else {
    await ensureHost(hostOptions);
    if (wantStack) await buildStack(config.stack, stackOptions);
  }
  if (timer.records.length > 0) say(["setup steps:", ...timer.summary()].join("\n"));
  say(`setup: done in ${(timer.elapsedMs() / 1000).toFixed(1)} s`);
  return 0;
}
