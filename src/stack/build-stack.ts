import { appendFileSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { ContainerRuntime, ImageInfo } from "../docker/container-runtime.js";
import { SlugforgeError } from "../errors.js";
import { discardDirInBackground, sweepDiscarded } from "../util/discard-dir.js";
import { untimed, type Step } from "../util/step-timer.js";
import { aptInstallInto, copyRootfs, debootstrap, importRootfs } from "./debian-rootfs.js";
import { LABELS, STACK_USER, getStackRecipe, imageRef, recipeHash, stackNames, type ImageRecipe } from "./recipes.js";

export interface StackBuildOptions {
  readonly runtime: ContainerRuntime;
  /** Scratch space and the package cache shared by builds (kept between runs). */
  readonly workDir: string;
  readonly say: (line: string) => void;
  readonly force?: boolean;
  /** A Debian mirror URL; debootstrap's own default when absent. */
  readonly mirror?: string;
  /** Times the steps (setup prints them); untimed when absent. */
  readonly step?: Step;
  /**
   * An engine being installed while the images are made, settled when it answers: it has no
   * images yet, so nothing is checked and the root filesystems are made at once; only the imports wait.
   */
  readonly freshEngine?: Promise<void>;
}

export interface StackImageResult {
  readonly ref: string;
  readonly built: boolean;
  readonly image: ImageInfo;
}

/**
 * Makes a stack's build and run images from Debian packages, skipping images already up to date.
 *
 * Where the run image's packages are a subset of the build image's (as in every stack we ship),
 * one debootstrap makes both: the run packages into one root filesystem, which is imported as the
 * run image while a copy of it gets the build image's other packages with apt-get (measured on
 * 2 cores: 40 s + 32 s, where a second debootstrap of the build packages took 114 s). The build
 * image has the same packages, at the same versions, as a debootstrap of its whole list would
 * give, so an image made either way carries the same recipe label.
 */
export async function buildStack(name: string, options: StackBuildOptions): Promise<StackImageResult[]> {
  const recipe = getStackRecipe(name);
  if (!recipe) {
    throw new SlugforgeError("STACK_MISSING", `unknown stack "${name}"; known stacks: ${stackNames().join(", ")}`);
  }
  const step = options.step ?? untimed;
  const current = new Map<ImageRecipe, StackImageResult>();
  if (!options.freshEngine) {
    for (const image of [recipe.run, recipe.build]) {
      const found = await upToDate(name, image, options);
      if (found) current.set(image, found);
    }
  }
  await sweepDiscarded(options.workDir);
  const wanted = [recipe.run, recipe.build].filter((image) => !current.has(image));
  if (wanted.length === 0) return [current.get(recipe.run)!, current.get(recipe.build)!];
  if (current.has(recipe.build) || !derivesFrom(recipe.build, recipe.run)) {
    // Nothing to share: each image from its own debootstrap.
    for (const image of wanted) current.set(image, await step(`${imageRef(name, image.role)}`, () => buildImage(name, image, options)));
    return [current.get(recipe.run)!, current.get(recipe.build)!];
  }
  const [run, build] = await buildFromOneRootfs(name, recipe.run, recipe.build, !current.has(recipe.run), options);
  return [current.get(recipe.run) ?? run!, build];
}

/** The image already in the engine for this recipe, or undefined when it is missing or stale (said). */
async function upToDate(stack: string, recipe: ImageRecipe, options: StackBuildOptions): Promise<StackImageResult | undefined> {
  const ref = imageRef(stack, recipe.role);
  const hash = recipeHash(recipe);
  const existing = await options.runtime.inspectImage(ref);
  if (existing && existing.labels[LABELS.recipe] === hash && !options.force) {
    options.say(`${ref}: up to date (recipe ${hash}, image ${shortId(existing.id)})`);
    return { ref, built: false, image: existing };
  }
  options.say(`${ref}: to be made from Debian ${recipe.suite} (recipe ${hash}${existing ? ", replacing an older image" : ""})`);
  return undefined;
}

/** The build image can start from the run image's root filesystem: same suite, every run package in it. */
function derivesFrom(build: ImageRecipe, run: ImageRecipe): boolean {
  return build.suite === run.suite && run.packages.every((p) => build.packages.includes(p));
}

function labelsOf(stack: string, recipe: ImageRecipe): Record<string, string> {
  return { [LABELS.recipe]: recipeHash(recipe), [LABELS.stack]: stack, [LABELS.role]: recipe.role };
}

/**
 * debootstrap of the run packages; then, side by side, the run image imported from it and the
 * build image from a copy plus the other packages. With a fresh engine still being installed
 * (options.freshEngine), the imports wait for it and the rest does not.
 */
async function buildFromOneRootfs(stack: string, run: ImageRecipe, build: ImageRecipe, makeRun: boolean, options: StackBuildOptions): Promise<[StackImageResult | undefined, StackImageResult]> {
  const step = options.step ?? untimed;
  const tools = { say: options.say, workDir: options.workDir, mirror: options.mirror };
  mkdirSync(options.workDir, { recursive: true });
  const cacheDir = path.join(options.workDir, "debs", run.suite);
  mkdirSync(cacheDir, { recursive: true });
  const runRoot = mkdtempSync(path.join(options.workDir, "rootfs-run-"));
  const buildRoot = mkdtempSync(path.join(options.workDir, "rootfs-build-"));
  const engine = options.freshEngine ?? Promise.resolve();
  try {
    await step(`debootstrap ${run.suite} (run packages, ${run.packages.length})`, () => debootstrap({ ...run, scratchName: "run" }, runRoot, cacheDir, tools));
    await step("copy for the build image", () => copyRootfs(runRoot, buildRoot));
    const runRef = imageRef(stack, "run");
    const buildRef = imageRef(stack, "build");
    const runDone = async (): Promise<StackImageResult | undefined> => {
      if (!makeRun) return undefined;
      finishRootfs(runRoot, run);
      await engine;
      const image = await step(`import ${runRef}`, () => importRootfs(options.runtime, runRoot, runRef, labelsOf(stack, run)));
      await discardDirInBackground(runRoot);
      options.say(`${runRef}: made (${shortId(image.id)}, ${(image.sizeBytes / 1e6).toFixed(0)} MB)`);
      return { ref: runRef, built: true, image };
    };
    const buildDone = async (): Promise<StackImageResult> => {
      const extra = build.packages.filter((p) => !run.packages.includes(p));
      await step(`apt-get install (build packages, ${extra.length} more)`, () => aptInstallInto(buildRoot, extra, cacheDir, "build", tools));
      finishRootfs(buildRoot, build);
      await engine;
      const image = await step(`import ${buildRef}`, () => importRootfs(options.runtime, buildRoot, buildRef, labelsOf(stack, build)));
      options.say(`${buildRef}: made (${shortId(image.id)}, ${(image.sizeBytes / 1e6).toFixed(0)} MB)`);
      return { ref: buildRef, built: true, image };
    };
    // Both settle before the folders go: one failing must not pull the floor from under the other.
    // buildDone first: apt-get starts at once, and runDone's finishing (synchronous, seconds of disk) runs while it does.
    const building = buildDone();
    const [r, b] = await Promise.allSettled([runDone(), building]);
    if (r.status === "rejected") throw r.reason;
    if (b.status === "rejected") throw b.reason;
    return [r.value, b.value];
  } finally {
    // Removing a root filesystem takes seconds of disk time (6-8 s for the build one here): not on setup's path.
    await discardDirInBackground(runRoot);
    await discardDirInBackground(buildRoot);
  }
}

async function buildImage(stack: string, recipe: ImageRecipe, options: StackBuildOptions): Promise<StackImageResult> {
  const ref = imageRef(stack, recipe.role);
  const image = await makeDebianImage(
    { ref, suite: recipe.suite, packages: recipe.packages, scratchName: recipe.role, labels: labelsOf(stack, recipe), finish: (rootfs) => finishRootfs(rootfs, recipe) },
    { ...options, runtime: options.runtime },
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
export async function makeDebianImage(image: DebianImage, options: Omit<StackBuildOptions, "force" | "freshEngine">): Promise<ImageInfo> {
  const { runtime, say } = options;
  mkdirSync(options.workDir, { recursive: true });
  const cacheDir = path.join(options.workDir, "debs", image.suite);
  mkdirSync(cacheDir, { recursive: true });
  const rootfs = mkdtempSync(path.join(options.workDir, `rootfs-${image.scratchName}-`));
  const started = Date.now();
  try {
    await debootstrap(image, rootfs, cacheDir, { say, workDir: options.workDir, mirror: options.mirror });
    image.finish(rootfs);
    say(`${image.ref}: importing into the Docker engine`);
    const made = await importRootfs(runtime, rootfs, image.ref, image.labels);
    say(`${image.ref}: built in ${((Date.now() - started) / 1000).toFixed(0)} s (${shortId(made.id)}, ${(made.sizeBytes / 1e6).toFixed(0)} MB)`);
    return made;
  } finally {
    await discardDirInBackground(rootfs);
  }
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
