import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * One of slugforge's own folders (hooks/, launcher/, dashboard/), which sit beside src/ and dist/:
 * the nearest `name` above this module that holds `marker`, so the same code finds it from src/
 * (tests), dist/ (`bin/slugforge.js`) and dist/bench/src/ (the benchmarks' build). Undefined when
 * there is none.
 */
export function ownFolder(name: string, marker: string): string | undefined {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, name, marker))) return path.join(dir, name);
    if (path.dirname(dir) === dir) return undefined;
  }
}
