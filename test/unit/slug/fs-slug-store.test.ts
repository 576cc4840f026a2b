import { createHash } from "node:crypto";
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createFsSlugStore } from "../../../src/slug/fs-slug-store.js";
import { parseSlugId } from "../../../src/slug/slug-store.js";
import { slugStoreContract } from "../../helpers/slug-store-contract.js";

describe("filesystem slug store", () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), "sf-slugs-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  describe("the slug store contract", () => {
    slugStoreContract(() => ({
      store: () => createFsSlugStore(dir),
      async overwrite(id, bytes) {
        const hex = parseSlugId(id)!;
        const file = path.join(dir, "sha256", hex.slice(0, 2), `${hex}.tar.gz`);
        chmodSync(file, 0o644);
        writeFileSync(file, bytes);
      },
      leftovers: async () => readdirSync(path.join(dir, "sha256")).filter((n) => n.startsWith(".tmp")),
    }));
  });

  it("stores by sha256, read-only, once", async () => {
    const store = createFsSlugStore(dir);
    const bytes = Buffer.from("pretend gzip");
    const hex = createHash("sha256").update(bytes).digest("hex");
    const a = await store.put(Readable.from([bytes]));
    const b = await store.put(Readable.from([bytes]));
    expect(a).toEqual({ id: `sha256:${hex}`, sizeBytes: bytes.length });
    expect(b).toEqual(a);
    const file = path.join(dir, "sha256", hex.slice(0, 2), `${hex}.tar.gz`);
    expect(statSync(file).mode & 0o777).toBe(0o444);
    expect(readdirSync(path.join(dir, "sha256")).filter((n) => n.startsWith(".tmp"))).toEqual([]);
    expect(await text((await store.get(a.id))!)).toBe("pretend gzip");
    expect(await store.list()).toEqual([a]);
    expect(await store.get("sha256:" + "0".repeat(64))).toBeUndefined();
    expect(await store.get("../../etc/passwd")).toBeUndefined();
  });

  it("reports a corrupted slug instead of serving it", async () => {
    const store = createFsSlugStore(dir);
    const { id } = await store.put(Readable.from([Buffer.from("original")]));
    const hex = id.slice(7);
    const file = path.join(dir, "sha256", hex.slice(0, 2), `${hex}.tar.gz`);
    chmodSync(file, 0o644);
    writeFileSync(file, "tampered");
    await expect(text((await store.get(id))!)).rejects.toThrow(/corrupt/);
  });

  it("leaves nothing behind when the source stream fails", async () => {
    const store = createFsSlugStore(dir);
    const failing = new Readable({
      read() {
        this.destroy(new Error("container went away"));
      },
    });
    await expect(store.put(failing)).rejects.toThrow(/went away/);
    expect(await store.list()).toEqual([]);
    expect(readdirSync(path.join(dir, "sha256"))).toEqual([]);
  });
});
