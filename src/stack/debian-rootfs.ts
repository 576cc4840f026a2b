import { spawn } from "node:child_process";
import { appendFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import type { ContainerRuntime, ImageInfo } from "../docker/container-runtime.js";
import { SlugforgeError } from "../errors.js";

/*
 * The programs a Debian root filesystem is made with (debootstrap, apt-get in a chroot, cp, tar
 * into `docker import`), one function each. build-stack.ts decides which run when.
 */

export interface RootfsTools {
  readonly say: (line: string) => void;
  /** Where the logs go (`debootstrap-<name>.log`, `apt-<name>.log`). */
  readonly workDir: string;
  /** A Debian mirror URL; debootstrap's own default when absent. */
  readonly mirror?: string;
}

/** `debootstrap --variant=minbase --include=...` into rootfs; the .debs are kept in cacheDir for the next time. */
export function debootstrap(
  recipe: { readonly suite: string; readonly packages: readonly string[]; readonly scratchName: string },
  rootfs: string,
  cacheDir: string,
  tools: RootfsTools,
): Promise<void> {
  const args = [
    "--variant=minbase",
    `--include=${recipe.packages.join(",")}`,
    `--cache-dir=${cacheDir}`,
    "--components=main",
    recipe.suite,
    rootfs,
    ...(tools.mirror ? [tools.mirror] : []),
  ];
  tools.say(`  debootstrap ${recipe.suite} with ${recipe.packages.length} extra packages`);
  return runLogged("debootstrap", args, path.join(tools.workDir, `debootstrap-${recipe.scratchName}.log`), tools.say, /^I: (Retrieving|Validating|Extracting|Unpacking|Configuring) /).catch((err: unknown) => {
    throw isSpawnError(err) ? new SlugforgeError("HOST_SETUP_FAILED", `could not run debootstrap: ${err.message}; run \`slugforge setup\` first`) : err;
  });
}

/**
 * Installs more packages into a root filesystem that debootstrap made (its apt lists are still
 * there), with apt-get in a chroot: the host's network, debootstrap's .deb cache as apt's archive
 * folder (what one image fetched the next reuses), /proc mounted in a mount namespace of its own
 * so nothing stays mounted when apt is done or killed, and Debian's root PATH inside (dpkg wants
 * ldconfig and start-stop-daemon from /sbin, whatever PATH setup was started with). Afterwards apt's own traces (the package
 * caches, which packages were automatic, its logs) are removed: the result has the files a
 * debootstrap of the same packages would have.
 */
export async function aptInstallInto(rootfs: string, packages: readonly string[], cacheDir: string, scratchName: string, tools: RootfsTools): Promise<void> {
  mkdirSync(path.join(cacheDir, "partial"), { recursive: true });
  const script = 'mount -t proc proc "$1/proc" && mount --bind "$2" "$1/var/cache/apt/archives" && root=$1 && shift 2 && exec chroot "$root" /usr/bin/env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin apt-get install -y --no-install-recommends -o APT::Sandbox::User=root -o Dpkg::Use-Pty=0 "$@"';
  tools.say(`  apt-get install ${packages.length} more packages into a copy of it (chroot)`);
  await runLogged("unshare", ["--mount", "--propagation", "private", "sh", "-c", script, "sh", rootfs, cacheDir, ...packages], path.join(tools.workDir, `apt-${scratchName}.log`), tools.say, /^(Get|Unpacking|Setting up) /);
  for (const trace of ["var/lib/apt/extended_states", "var/cache/apt/pkgcache.bin", "var/cache/apt/srcpkgcache.bin", "var/cache/debconf/tmp.ci", "var/log/apt"]) {
    rmSync(path.join(rootfs, trace), { recursive: true, force: true });
  }
  mkdirSync(path.join(rootfs, "var/log/apt"), { recursive: true });
}

/** A copy of a root filesystem with owners, modes, links and extended attributes (reflinks where the disk can). */
export async function copyRootfs(from: string, to: string): Promise<void> {
  const code = await new Promise<number>((resolve, reject) => {
    const cp = spawn("cp", ["-a", "--reflink=auto", `${from}/.`, to], { stdio: ["ignore", "ignore", "inherit"] });
    cp.on("error", reject);
    cp.on("close", (c) => resolve(c ?? 1));
  });
  if (code !== 0) throw new SlugforgeError("INTERNAL", `copying ${from} to ${to} failed (cp exited ${code}); is the disk full?`);
}

/** `tar -c` of the root filesystem into `docker import`, with labels. */
export async function importRootfs(runtime: ContainerRuntime, rootfs: string, ref: string, labels: Readonly<Record<string, string>>): Promise<ImageInfo> {
  const tar = spawn("tar", ["--numeric-owner", "--xattrs", "-C", rootfs, "-c", "."], { stdio: ["ignore", "pipe", "pipe"] });
  const tarExit = new Promise<number>((resolve) => tar.on("close", (code) => resolve(code ?? 1)));
  const made = await runtime.importImage(tar.stdout, ref, { ...labels });
  if ((await tarExit) !== 0) throw new SlugforgeError("INTERNAL", `tar of the ${ref} root filesystem failed`);
  return made;
}

/** Runs a program with every output line in logFile, saying which phase it is in every 5 s. */
function runLogged(file: string, args: readonly string[], logFile: string, say: (line: string) => void, phases: RegExp): Promise<void> {
  writeFileSync(logFile, `${file} ${args.join(" ")}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(file, [...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
    const counts = new Map<string, number>();
    let phase = "starting";
    let last = "";
    let lastSaid = Date.now();
    const onLine = (line: string): void => {
      appendFileSync(logFile, `${line}\n`);
      if (line.trim()) last = line.trim();
      const m = phases.exec(line);
      if (m) {
        const key = m[1]!;
        counts.set(key, (counts.get(key) ?? 0) + 1);
        phase = `${key.toLowerCase()} (${counts.get(key)})`;
      }
      if (Date.now() - lastSaid > 5000) {
        lastSaid = Date.now();
        say(`  ... ${path.basename(logFile, ".log")}: ${phase}`);
      }
    };
    createInterface({ input: child.stdout }).on("line", onLine);
    createInterface({ input: child.stderr }).on("line", onLine);
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve();
      else reject(new SlugforgeError("INTERNAL", `${file} failed with exit ${code} (${last || "no output"}); see ${logFile}. A network or mirror problem? SLUGFORGE_DEBIAN_MIRROR names another Debian mirror.`));
    });
  });
}

function isSpawnError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).syscall === "string";
}
