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
  const addTo = (dir: string, bytes: number): void => void totals.set(dir, (totals.get(dir) ?? 0) + bytes);
  // Names come sorted, so one folder's files come one after the other: each level's current folder
  // is added up on its own and goes into the map when the next one starts.
  const current: (string | undefined)[] = [];
  const currentBytes: number[] = [];
  const flush = (): void => {
    current.forEach((dir, i) => dir !== undefined && addTo(dir, currentBytes[i]!));
    current.length = 0;
    currentBytes.length = 0;
  };
  return {
    add(name, bytes) {
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
          if (dir !== undefined) addTo(dir, currentBytes[i]!);
          current[i] = name.slice(base, end);
          currentBytes[i] = bytes;
        }
        return;
      }
      const parts = name.slice(base).split("/").filter(Boolean);
      for (let i = 1; i <= Math.min(depth, parts.length - 1); i++) addTo(parts.slice(0, i).join("/"), bytes);
    },
    largest(n) {
      flush();
      return [...totals.entries()]
        .map(([p, bytes]) => ({ path: p, bytes }))
        .sort((a, b) => b.bytes - a.bytes || a.path.localeCompare(b.path))
        .slice(0, n);
    },
  };
}
