import { spawn } from "node:child_process";
import { appendFileSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import type { ContainerRuntime, ImageInfo } from "../docker/container-runtime.js";
import { SlugforgeError } from "../errors.js";
import { LABELS, STACK_USER, getStackRecipe, imageRef, recipeHash, stackNames, type ImageRecipe } from "./recipes.js";

export interface StackBuildOptions {
  readonly runtime: ContainerRuntime;
  /** Scratch space and the package cache shared by builds (kept between runs). */
  readonly workDir: string;
  readonly say: (line: string) => void;
  readonly force?: boolean;
  /** A Debian mirror URL; debootstrap's own default when absent. */
  readonly mirror?: string;
}

export interface StackImageResult {
  readonly ref: string;
  readonly built: boolean;
  readonly image: ImageInfo;
}

/** Makes a stack's build and run images from Debian packages, skipping images already up to date. */
export async function buildStack(name: string, options: StackBuildOptions): Promise<StackImageResult[]> {
  const recipe = getStackRecipe(name);
  if (!recipe) {
    throw new SlugforgeError("STACK_MISSING", `unknown stack "${name}"; known stacks: ${stackNames().join(", ")}`);
  }
  const results: StackImageResult[] = [];
  for (const image of [recipe.run, recipe.build]) {
    results.push(await buildImage(name, image, options));
  }
  return results;
}

async function buildImage(stack: string, recipe: ImageRecipe, options: StackBuildOptions): Promise<StackImageResult> {
  const { runtime, say } = options;
  const ref = imageRef(stack, recipe.role);
  const hash = recipeHash(recipe);
  const existing = await runtime.inspectImage(ref);
  if (existing && existing.labels[LABELS.recipe] === hash && !options.force) {
    say(`${ref}: up to date (recipe ${hash}, image ${shortId(existing.id)})`);
    return { ref, built: false, image: existing };
  }
  say(`${ref}: building from Debian ${recipe.suite} (recipe ${hash}${existing ? ", replacing an older image" : ""})`);
  const image = await makeDebianImage(
    {
      ref,
      suite: recipe.suite,
      packages: recipe.packages,
      scratchName: recipe.role,
      labels: { [LABELS.recipe]: hash, [LABELS.stack]: stack, [LABELS.role]: recipe.role },
      finish: (rootfs) => finishRootfs(rootfs, recipe),
    },
    options,
  );
  return { ref, built: true, image };
}

/** An image made from Debian packages: what goes in, how the root filesystem is finished, its labels. */
export interface DebianImage {
  readonly ref: string;
  readonly suite: string;
  /** Packages on top of debootstrap's minbase. */
  readonly packages: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  /** Names the scratch folder and debootstrap's log (`rootfs-<name>-*`, `debootstrap-<name>.log`). */
  readonly scratchName: string;
  /** Last changes to the root filesystem before it is imported. */
  readonly finish: (rootfs: string) => void;
}

/** debootstrap into a scratch folder under workDir, finish, `docker import` with labels; the scratch folder goes. */
export async function makeDebianImage(image: DebianImage, options: Omit<StackBuildOptions, "force">): Promise<ImageInfo> {
  const { runtime, say } = options;
  mkdirSync(options.workDir, { recursive: true });
  const cacheDir = path.join(options.workDir, "debs", image.suite);
  mkdirSync(cacheDir, { recursive: true });
  const rootfs = mkdtempSync(path.join(options.workDir, `rootfs-${image.scratchName}-`));
  const started = Date.now();
  try {
    await debootstrap(image, rootfs, cacheDir, options);
    image.finish(rootfs);
    say(`${image.ref}: importing into the Docker engine`);
    const tar = spawn("tar", ["--numeric-owner", "--xattrs", "-C", rootfs, "-c", "."], { stdio: ["ignore", "pipe", "pipe"] });
    const tarExit = new Promise<number>((resolve) => tar.on("close", (code) => resolve(code ?? 1)));
    const made = await runtime.importImage(tar.stdout, image.ref, { ...image.labels });
    if ((await tarExit) !== 0) throw new SlugforgeError("INTERNAL", `tar of the ${image.ref} root filesystem failed`);
    say(`${image.ref}: built in ${((Date.now() - started) / 1000).toFixed(0)} s (${shortId(made.id)}, ${(made.sizeBytes / 1e6).toFixed(0)} MB)`);
    return made;
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
  }
}

function debootstrap(recipe: Pick<DebianImage, "suite" | "packages" | "scratchName">, rootfs: string, cacheDir: string, options: Omit<StackBuildOptions, "force">): Promise<void> {
  const args = [
    "--variant=minbase",
    `--include=${recipe.packages.join(",")}`,
    `--cache-dir=${cacheDir}`,
    "--components=main",
    recipe.suite,
    rootfs,
    ...(options.mirror ? [options.mirror] : []),
  ];
  const logFile = path.join(options.workDir, `debootstrap-${recipe.scratchName}.log`);
  writeFileSync(logFile, `debootstrap ${args.join(" ")}\n`);
  options.say(`  debootstrap ${recipe.suite} with ${recipe.packages.length} extra packages (log: ${logFile})`);
  return new Promise((resolve, reject) => {
    const child = spawn("debootstrap", args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
    const counts = { Retrieving: 0, Validating: 0, Extracting: 0, Unpacking: 0, Configuring: 0 };
    let phase = "resolving";
    let lastSaid = Date.now();
    const onLine = (line: string): void => {
      appendFileSync(logFile, `${line}\n`);
      const m = /^I: (Retrieving|Validating|Extracting|Unpacking|Configuring) /.exec(line);
      if (m) {
        const key = m[1] as keyof typeof counts;
        counts[key] += 1;
        phase = `${key.toLowerCase()} packages (${counts[key]})`;
      }
      if (Date.now() - lastSaid > 5000) {
        lastSaid = Date.now();
        options.say(`  ... ${phase}`);
      }
    };
    createInterface({ input: child.stdout }).on("line", onLine);
    createInterface({ input: child.stderr }).on("line", onLine);
    child.on("error", (err) => reject(new SlugforgeError("HOST_SETUP_FAILED", `could not run debootstrap: ${err.message}; run \`slugforge setup\` first`)));
    child.on("close", (code) => {
      if (code === 0) resolve();
      else reject(new SlugforgeError("INTERNAL", `debootstrap failed with exit ${code}; see ${logFile}`));
    });
  });
}

/** Adds the unprivileged user, the /app home, and trims what an image does not need. */
function finishRootfs(rootfs: string, recipe: ImageRecipe): void {
  const { name, uid, gid, home } = STACK_USER;
  appendFileSync(path.join(rootfs, "etc/passwd"), `${name}:x:${uid}:${gid}:slugforge ${recipe.role} user:${home}:/bin/bash\n`);
  appendFileSync(path.join(rootfs, "etc/group"), `${name}:x:${gid}:\n`);
  appendFileSync(path.join(rootfs, "etc/shadow"), `${name}:!:20000:0:99999:7:::\n`);
  for (const dir of [home, "/tmp/cache", "/tmp/env"]) {
    const abs = path.join(rootfs, dir);
    mkdirSync(abs, { recursive: true });
    chownSync(abs, uid, gid);
  }
  for (const junk of ["var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/info"]) {
    rmSync(path.join(rootfs, junk), { recursive: true, force: true });
    mkdirSync(path.join(rootfs, junk), { recursive: true });
  }
  for (const file of recipe.forbidden) {
    if (existsSync(path.join(rootfs, file))) {
      throw new SlugforgeError("INTERNAL", `the ${recipe.role} image must not contain ${file}; a package in its recipe pulls it in`);
    }
  }
  writeFileSync(path.join(rootfs, "etc/slugforge-stack"), `${recipe.suite} ${recipe.role}\n`);
}

export function shortId(id: string): string {
  return id.replace(/^sha256:/, "").slice(0, 12);
}
