import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { buffer, text } from "node:stream/consumers";
import { expect, it } from "vitest";
import type { SlugStore } from "../../src/slug/slug-store.js";

/** What a contract run needs of one implementation: a fresh store, and a way to damage a slug behind its back. */
export interface ContractSubject {
  store(): SlugStore;
  /** Replaces the stored bytes of `id` with `bytes`, not through the store. */
  overwrite(id: string, bytes: Buffer): Promise<void>;
  /** Temp files and half-written objects the store left (none once a put has settled). */
  leftovers(): Promise<string[]>;
}

/**
 * The SlugStore contract, run against every implementation (the data folder and the object store),
 * so that what the build, the API and the images rely on holds for both.
 */
export function slugStoreContract(subject: () => ContractSubject): void {
  const sha = (b: Buffer): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;

  it("stores by sha256, once, and reads the bytes back verified", async () => {
    const { store, leftovers } = subject();
    const s = store();
    const bytes = Buffer.from(`pretend gzip ${randomBytes(8).toString("hex")}`);
    const a = await s.put(Readable.from([bytes]));
    const b = await s.put(Readable.from([bytes]));
    expect(a).toEqual({ id: sha(bytes), sizeBytes: bytes.length });
    expect(b).toEqual(a);
    expect(await s.stat(a.id)).toEqual(a);
    expect(await text((await s.get(a.id))!)).toBe(bytes.toString());
    expect((await s.list()).filter((x) => x.id === a.id)).toEqual([a]);
    expect(await s.get(`sha256:${"0".repeat(64)}`)).toBeUndefined();
    expect(await s.stat(`sha256:${"0".repeat(64)}`)).toBeUndefined();
    expect(await s.get("../../etc/passwd")).toBeUndefined();
    expect(await leftovers()).toEqual([]);
  });

  it("reports a corrupted slug instead of serving it", async () => {
    const { store, overwrite } = subject();
    const s = store();
    const { id } = await s.put(Readable.from([Buffer.from(`original ${randomBytes(8).toString("hex")}`)]));
    await overwrite(id, Buffer.from("tampered"));
    await expect(text((await s.get(id))!)).rejects.toThrow(/corrupt/);
  });

  it("leaves nothing behind when the source stream fails", async () => {
    const { store, leftovers } = subject();
    const s = store();
    const before = await s.list();
    let sent = 0;
    const failing = new Readable({
      read() {
        if (sent++ < 3) this.push(randomBytes(64 * 1024));
        else this.destroy(new Error("container went away"));
      },
    });
    await expect(s.put(failing)).rejects.toThrow(/went away/);
    expect(await s.list()).toEqual(before);
    expect(await leftovers()).toEqual([]);
  });

  it("reads ranges of a slug, and nothing past its end", async () => {
    const { store } = subject();
    const s = store();
    const bytes = randomBytes(100_000);
    const { id } = await s.put(Readable.from([bytes]));
    expect(await s.readRange(id, 1000, 5000)).toEqual(bytes.subarray(1000, 6000));
    expect(await s.readRange(id, 99_990, 100)).toBeUndefined();
    expect(await s.readRange(`sha256:${"1".repeat(64)}`, 0, 10)).toBeUndefined();
  });

  it("deletes a slug; deleting an absent one does nothing", async () => {
    const { store } = subject();
    const s = store();
    const { id } = await s.put(Readable.from([randomBytes(1000)]));
    await s.delete(id);
    expect(await s.stat(id)).toBeUndefined();
    expect(await s.get(id)).toBeUndefined();
    await s.delete(id);
    await s.delete("not an id");
  });

  it("two puts of the same bytes at once keep one slug, and both succeed", async () => {
    const { store, leftovers } = subject();
    const s = store();
    const bytes = randomBytes(3 * 1024 * 1024);
    const results = await Promise.all([1, 2, 3].map(() => s.put(Readable.from([bytes]))));
    expect(new Set(results.map((r) => r.id))).toEqual(new Set([sha(bytes)]));
    expect((await s.list()).filter((x) => x.id === sha(bytes))).toHaveLength(1);
    expect((await buffer((await s.get(sha(bytes)))!)).equals(bytes)).toBe(true);
    expect(await leftovers()).toEqual([]);
  });
}
