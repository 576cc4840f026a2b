import { lstat, readdir } from "node:fs/promises";
import path from "node:path";
import { compareTarOrder, LaidSlugUnusable, type FolderNow, type LaidSlug } from "../slug/laid-slug.js";
import { isRealDir } from "../util/real-dir.js";
import { BUILD_DIR } from "./container-exec.js";

/*
 * What a build changed in an /app laid beneath its container's upper layer (the engine's init
 * layer, CreatedContainer.initDir), found without a walk of /app. overlayfs keeps in the upper
 * layer everything the container changed and nothing else: a file written, made, or with new
 * metadata is there whole (copied up), with every folder on its way; a name removed is a whiteout
 * there (a character device 0:0); a folder removed and made again is there with nothing of the
 * lower one showing through (opaque). A folder of the lower layer cannot be renamed (with the
 * kernel's redirect_dir off, which the runtime checks, rename gives EXDEV and programs copy it), so
 * no laid file turns up under another name. Hence, for the laid /app's slug tar (laid-slug.ts):
 * - a laid folder with no entry of the upper layer on its way had nothing in it changed;
 * - the entries to read again are the upper layer's (its whiteouts aside) and every folder there
 *   now; in a folder of the upper layer, the names the mounted root shows are the ones there now.
 */

type Kind = "dir" | "whiteout" | "other";

/** As many as the laid tar may hold (laid-slug.ts). */
const MAX_CHANGES = 200_000;

export class ChangesBelow {
  /** The names a folder of the upper layer shows in the mounted root, read once each. */
  private readonly shown = new Map<string, Promise<ReadonlySet<string>>>();
  private readonly present = new Map<string, Promise<boolean>>();

  private constructor(
    private readonly mergedDir: string,
    /** Each entry of the upper layer's /app, by its name in it (`app/...`). */
    private readonly kinds: ReadonlyMap<string, Kind>,
  ) {}

  /** The upper layer's /app read (a walk of what the build changed only); more than `most` entries there, the slug is read whole. */
  static async read(upperDir: string, mergedDir: string, most = MAX_CHANGES): Promise<ChangesBelow> {
    const kinds = new Map<string, Kind>();
    const app = BUILD_DIR.slice(1);
    const top = await lstat(path.join(upperDir, app)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return undefined;
      throw err;
    });
    if (top && !top.isDirectory()) throw new LaidSlugUnusable(`${BUILD_DIR} is no longer a folder`);
    const walk = async (rel: string): Promise<void> => {
      kinds.set(rel, "dir");
      const entries = await readdir(path.join(upperDir, rel), { withFileTypes: true });
      // Held in memory, as the laid tar's entries are: bounded as they are.
      if (kinds.size + entries.length > most) throw new LaidSlugUnusable(`the build changed more than ${most} entries of ${BUILD_DIR}`);
      await Promise.all(
        entries.map(async (d) => {
          // A name that is not UTF-8 does not come back as it is: such a tree is read whole.
          if (d.name.includes("\uFFFD")) throw new LaidSlugUnusable(`a name in ${rel} is not UTF-8`);
          const name = `${rel}/${d.name}`;
          if (d.isDirectory()) return walk(name);
          kinds.set(name, d.isCharacterDevice() && (await lstat(path.join(upperDir, name))).rdev === 0 ? "whiteout" : "other");
        }),
      );
    };
    if (top) await walk(app);
    return new ChangesBelow(mergedDir, kinds);
  }

  /** How many entries the upper layer's /app holds (folders and whiteouts too). */
  get size(): number {
    return this.kinds.size;
  }

  /**
   * The names tar reads again (`app/...`), in GNU tar's order: every folder /app has now (the laid
   * ones still there, and those of the upper layer) and every other entry of the upper layer but
   * its whiteouts. The same entries, as far as the slug goes, as tar's --newer read of the root.
   */
  async names(laid: LaidSlug): Promise<string[]> {
    for (const name of laid.folders.keys()) if (name.includes("\uFFFD")) throw new LaidSlugUnusable(`a laid folder's name is not UTF-8`);
    const laidFolders = [...laid.folders.keys()].map(folderName);
    const kept = await Promise.all(laidFolders.map((f) => this.isPresent(f)));
    const names = new Set(laidFolders.filter((_, i) => kept[i]));
    for (const [name, kind] of this.kinds) if (kind !== "whiteout") names.add(name);
    return [...names].sort(compareTarOrder);
  }

  /** What a folder the slug's tar gave (`./app/.../`) holds now, as far as its laid entries go (mergeLaid's `folder`). */
  async folder(name: string): Promise<FolderNow> {
    const rel = folderName(name);
    if (!(await this.isPresent(rel))) return "gone";
    return this.kinds.get(rel) === "dir" ? this.shownIn(rel) : "unchanged";
  }

  /** Whether a laid folder (`app/...`) is a folder still: one of the upper layer, or one the upper layer leaves showing. */
  private isPresent(rel: string): Promise<boolean> {
    let known = this.present.get(rel);
    if (!known) {
      known = this.presentNow(rel);
      this.present.set(rel, known);
    }
    return known;
  }

  private async presentNow(rel: string): Promise<boolean> {
    const kind = this.kinds.get(rel);
    if (kind !== undefined) return kind === "dir";
    const at = rel.lastIndexOf("/");
    // /app itself, untouched.
    if (at < 0) return true;
    const parent = rel.slice(0, at);
    // In a folder of the upper layer (it may be one made again): whether the root shows it; beneath a laid folder left alone: whether that one is there.
    if (this.kinds.get(parent) === "dir") return (await this.shownIn(parent)).has(rel.slice(at + 1)) && (await isRealDir(path.join(this.mergedDir, rel)));
    return this.isPresent(parent);
  }

  private shownIn(rel: string): Promise<ReadonlySet<string>> {
    let known = this.shown.get(rel);
    if (!known) {
      known = readdir(path.join(this.mergedDir, rel)).then(
        (names) => new Set(names),
        () => new Set<string>(),
      );
      this.shown.set(rel, known);
    }
    return known;
  }
}

/** `./app/x/` as `app/x`. */
function folderName(name: string): string {
  return name.slice(2, name.endsWith("/") ? -1 : undefined);
}
