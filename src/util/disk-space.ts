import { statfs } from "node:fs/promises";
import { SlugforgeError } from "../errors.js";
import { formatSize } from "./format-size.js";

/** Free bytes for an unprivileged writer on the file system that holds `dir`. */
export type FreeBytes = (dir: string) => Promise<number>;

export const statfsFree: FreeBytes = async (dir) => {
  const s = await statfs(dir);
  return Number(s.bavail) * Number(s.bsize);
};

/**
 * Refuses work that would write to the data folder's disk once its free space is under the
 * reserve (SLUGFORGE_MIN_FREE_BYTES): a push is turned away up front with STORAGE_FULL and a
 * message that says what to free, instead of failing half-way with nothing useful to say. A
 * reserve of 0 turns the check off (writes can still fail with a full disk; they are mapped to
 * STORAGE_FULL where they happen).
 */
export interface DiskGuard {
  /** Throws STORAGE_FULL when the disk is under the reserve; `what` names the refused work. */
  check(what: string): Promise<void>;
  /** Whether the disk is at or above the reserve now. */
  ok(): Promise<boolean>;
}

export function createDiskGuard(dir: string, reserveBytes: number, freeBytes: FreeBytes = statfsFree): DiskGuard {
  const free = async (): Promise<number> => freeBytes(dir).catch(() => Number.POSITIVE_INFINITY);
  return {
    async check(what) {
      if (reserveBytes <= 0) return;
      const left = await free();
      if (left >= reserveBytes) return;
      throw new SlugforgeError(
        "STORAGE_FULL",
        `the server's disk is full: ${formatSize(left)} free where it keeps its data (${dir}), under the reserve of ${formatSize(reserveBytes)} (SLUGFORGE_MIN_FREE_BYTES). ${what} was refused and nothing was written.`,
        { data: { freeBytes: left, reserveBytes, dir } },
      );
    },
    async ok() {
      return reserveBytes <= 0 || (await free()) >= reserveBytes;
    },
  };
}

/** A guard that never refuses (tools and tests that do not care about the disk). */
export const NO_DISK_GUARD: DiskGuard = { check: async () => undefined, ok: async () => true };
