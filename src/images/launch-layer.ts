import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import tar from "tar-stream";
import { ownFolder } from "../util/own-folder.js";
import { MEDIA_TYPES, sha256Digest, type LayerDescriptor } from "./oci.js";

/** Where the launcher and the process types are in an image (launcher/slugforge-launch reads the same). */
export const LAUNCHER_PATH = "/usr/local/bin/slugforge-launch";
export const PROCESS_TYPES_DIR = "/etc/slugforge/process-types";

/** Process type names the launcher takes (the Procfile's own pattern); others stay out of the image. */
const PROCESS_TYPE = /^[A-Za-z0-9_-]+$/;

/** Entries of the launch layer are root's, dated 2000-01-01: nothing in them depends on when or where they were made. */
const FIXED = { uid: 0, gid: 0, uname: "root", gname: "root", mtime: new Date("2000-01-01T00:00:00Z") } as const;

/**
 * The image's small layer on top of the slug: the launcher (the file launcher/slugforge-launch of
 * this repository, as shellcheck reads it) and one file per process type holding its command.
 * It is a plain tar (not gzip), so its bytes, and its digest, depend only on the launcher and the
 * process types: every release with the same process types has the same launch layer, and a
 * registry that has it is not sent it again.
 */
export async function makeLaunchLayer(processTypes: Readonly<Record<string, string>>): Promise<LayerDescriptor & { bytes: Buffer }> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on("data", (c) => void chunks.push(c as Buffer));
  const ended = new Promise<void>((resolve, reject) => {
    pack.on("end", () => resolve());
    pack.on("error", reject);
  });
  const add = (name: string, mode: number, content?: Buffer): Promise<void> =>
    new Promise((resolve, reject) => {
      const header = { name, mode, ...FIXED, type: content ? ("file" as const) : ("directory" as const), size: content?.length ?? 0 };
      pack.entry(header, content ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
    });
  // Parents of /usr/local/bin are left out: the run image has them, and an entry would replace their metadata.
  const dir = PROCESS_TYPES_DIR.replace(/^\//, "");
  await add("etc/slugforge/", 0o755);
  await add(`${dir}/`, 0o755);
  for (const name of Object.keys(processTypes).filter((n) => PROCESS_TYPE.test(n)).sort()) {
    await add(`${dir}/${name}`, 0o644, Buffer.from(`${processTypes[name]}\n`));
  }
  await add(LAUNCHER_PATH.replace(/^\//, ""), 0o755, launcherProgram());
  pack.finalize();
  await ended;
  const bytes = Buffer.concat(chunks);
  const digest = sha256Digest(bytes);
  return { mediaType: MEDIA_TYPES.layerTar, digest, diffId: digest, size: bytes.length, bytes };
}

let launcher: Buffer | undefined;

/** launcher/slugforge-launch beside src/ (or dist/), found as slugforge's own folders are (util/own-folder.ts). */
function launcherProgram(): Buffer {
  if (launcher) return launcher;
  const dir = ownFolder("launcher", "slugforge-launch");
  if (!dir) throw new Error(`slugforge's launcher/slugforge-launch is not above ${path.dirname(fileURLToPath(import.meta.url))}`);
  return (launcher = readFileSync(path.join(dir, "slugforge-launch")));
}
