export interface DirectorySize {
  readonly path: string;
  readonly bytes: number;
}

/**
 * Adds up file sizes per directory down to `depth` levels under the slug root (like `du -d 2`),
 * so an over-size slug can name what made it big.
 */
export function createDirectorySizes(depth: number): { add(name: string, bytes: number): void; largest(n: number): DirectorySize[] } {
  const totals = new Map<string, number>();
  return {
    add(name, bytes) {
      const rest = name.startsWith("./app/") ? name.slice(6) : name.startsWith("./app") ? name.slice(5) : name;
      // The usual name (no empty part): its folders found in place.
      if (!rest.startsWith("/") && !rest.includes("//")) {
        let end = -1;
        for (let i = 1; i <= depth; i++) {
          end = rest.indexOf("/", end + 1);
          if (end === -1 || end === rest.length - 1) break;
          const dir = rest.slice(0, end);
          totals.set(dir, (totals.get(dir) ?? 0) + bytes);
        }
        return;
      }
      const parts = rest.split("/").filter(Boolean);
      for (let i = 1; i <= Math.min(depth, parts.length - 1); i++) {
        const dir = parts.slice(0, i).join("/");
        totals.set(dir, (totals.get(dir) ?? 0) + bytes);
      }
    },
    largest(n) {
      return [...totals.entries()]
        .map(([p, bytes]) => ({ path: p, bytes }))
        .sort((a, b) => b.bytes - a.bytes || a.path.localeCompare(b.path))
        .slice(0, n);
    },
  };
}
