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
  mkdirSync(options.workDir, { recursive: true });
  const cacheDir = path.join(options.workDir, "debs", recipe.suite);
  mkdirSync(cacheDir, { recursive: true });
  const rootfs = mkdtempSync(path.join(options.workDir, `rootfs-${recipe.role}-`));
  const started = Date.now();
  try {
    await debootstrap(recipe, rootfs, cacheDir, options);
    finishRootfs(rootfs, recipe);
    say(`${ref}: importing into the Docker engine`);
    const tar = spawn("tar", ["--numeric-owner", "--xattrs", "-C", rootfs, "-c", "."], { stdio: ["ignore", "pipe", "pipe"] });
    const tarExit = new Promise<number>((resolve) => tar.on("close", (code) => resolve(code ?? 1)));
    const image = await runtime.importImage(tar.stdout, ref, {
      [LABELS.recipe]: hash,
      [LABELS.stack]: stack,
      [LABELS.role]: recipe.role,
    });
    if ((await tarExit) !== 0) throw new SlugforgeError("INTERNAL", `tar of the ${ref} root filesystem failed`);
    say(`${ref}: built in ${((Date.now() - started) / 1000).toFixed(0)} s (${shortId(image.id)}, ${(image.sizeBytes / 1e6).toFixed(0)} MB)`);
    return { ref, built: true, image };
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
  }
}

function debootstrap(recipe: ImageRecipe, rootfs: string, cacheDir: string, options: StackBuildOptions): Promise<void> {
  const args = [
    "--variant=minbase",
    `--include=${recipe.packages.join(",")}`,
    `--cache-dir=${cacheDir}`,
    "--components=main",
    recipe.suite,
    rootfs,
    ...(options.mirror ? [options.mirror] : []),
  ];
  const logFile = path.join(options.workDir, `debootstrap-${recipe.role}.log`);
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
