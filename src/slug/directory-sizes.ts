export interface DirectorySize {
  readonly path: string;
  readonly bytes: number;
}

/**
 * Adds up file sizes per directory down to `depth` levels under the slug root (like `du -d 2`),
 * so an over-size slug can name what made it big.
 */
export function createDirectorySizes(depth: number): DirectorySizes {
  return new DirectorySizes(depth);
}

/** Names kept before they are added up: a slug under its limit (which never asks) pays only for keeping them. */
const PENDING_NAMES = 65_536;

/**
 * createDirectorySizes' sums. The names are kept as they come and added up when asked, or every
 * PENDING_NAMES of them (a slug of 20 000 files took 5-37 ms a slug to add them up one by one, as
 * much as the rest of its merge). A class, so that its loop is compiled once for all slugs.
 */
export class DirectorySizes {
  private readonly totals = new Map<string, number>();
  private names: string[] = [];
  private sizes: number[] = [];

  constructor(private readonly depth: number) {}

  add(name: string, bytes: number): void {
    this.names.push(name);
    this.sizes.push(bytes);
    if (this.names.length >= PENDING_NAMES) this.sum();
  }

  largest(n: number): DirectorySize[] {
    this.sum();
    return [...this.totals.entries()]
      .map(([p, bytes]) => ({ path: p, bytes }))
      .sort((a, b) => b.bytes - a.bytes || a.path.localeCompare(b.path))
      .slice(0, n);
  }

  private addTo(dir: string, bytes: number): void {
    this.totals.set(dir, (this.totals.get(dir) ?? 0) + bytes);
  }

  /** Adds up the names kept. They come sorted, so one folder's files come one after the other: each level's current folder is added up on its own and goes into the map when the next one starts. */
  private sum(): void {
    const { names, sizes, depth } = this;
    this.names = [];
    this.sizes = [];
    const current: (string | undefined)[] = [];
    const currentBytes: number[] = [];
    for (let k = 0; k < names.length; k++) {
      const name = names[k]!;
      const bytes = sizes[k]!;
      const base = name.startsWith("./app/") ? 6 : name.startsWith("./app") ? 5 : 0;
      // The usual name (no empty part): its folders found in place.
      if (name[base] !== "/" && name.indexOf("//", base) === -1) {
        let end = base - 1;
        for (let i = 1; i <= depth; i++) {
          end = name.indexOf("/", end + 1);
          if (end === -1 || end === name.length - 1) break;
          const dir = current[i];
          if (dir !== undefined && dir.length === end - base && name.startsWith(dir, base)) {
            currentBytes[i] = currentBytes[i]! + bytes;
            continue;
          }
          if (dir !== undefined) this.addTo(dir, currentBytes[i]!);
          current[i] = name.slice(base, end);
          currentBytes[i] = bytes;
        }
        continue;
      }
      const parts = name.slice(base).split("/").filter(Boolean);
      for (let i = 1; i <= Math.min(depth, parts.length - 1); i++) this.addTo(parts.slice(0, i).join("/"), bytes);
    }
    current.forEach((dir, i) => dir !== undefined && this.addTo(dir, currentBytes[i]!));
  }
}
