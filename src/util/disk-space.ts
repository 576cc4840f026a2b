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
 * The free bytes on the disk that holds `dir` when they are under `reserveBytes`; undefined when
 * they are not, or when the reserve is 0 (the check off).
 */
export async function underReserve(dir: string, reserveBytes: number, freeBytes: FreeBytes = statfsFree): Promise<number | undefined> {
  if (reserveBytes <= 0) return undefined;
  const free = await freeBytes(dir);
  return free < reserveBytes ? free : undefined;
}

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
  // A disk that cannot be asked refuses nothing: the write itself says what is wrong.
  const short = (): Promise<number | undefined> => underReserve(dir, reserveBytes, (d) => freeBytes(d).catch(() => Number.POSITIVE_INFINITY));
  return {
    async check(what) {
      const left = await short();
      if (left === undefined) return;
      throw new SlugforgeError(
        "STORAGE_FULL",
        `the server's disk is full: ${formatSize(left)} free where it keeps its data (${dir}), under the reserve of ${formatSize(reserveBytes)} (SLUGFORGE_MIN_FREE_BYTES). ${what} was refused and nothing was written.`,
        { data: { freeBytes: left, reserveBytes, dir } },
      );
    },
    async ok() {
      return (await short()) === undefined;
    },
  };
}

/** A guard that never refuses (tools and tests that do not care about the disk). */
export const NO_DISK_GUARD: DiskGuard = { check: async () => undefined, ok: async () => true };
