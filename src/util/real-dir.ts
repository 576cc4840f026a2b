import { lstat } from "node:fs/promises";
import path from "node:path";

/**
 * Whether `top/rel` and every folder on the way to it below `top` is a real folder: lstat on each,
 * so a symbolic link someone else put on the way is never followed. `top` itself is trusted.
 */
export async function isRealDirBeneath(top: string, rel: string): Promise<boolean> {
  let at = top;
  for (const part of rel.split("/")) {
    if (part === "" || part === "." || part === "..") return false;
    at = path.join(at, part);
    if (!(await isRealDir(at))) return false;
  }
  return true;
}

/** Whether `file` is a folder itself (lstat: a symbolic link to one is not). */
export function isRealDir(file: string): Promise<boolean> {
  return lstat(file).then(
    (s) => s.isDirectory(),
    () => false,
  );
}
