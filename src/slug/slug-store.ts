import type { Readable } from "node:stream";
import type { GzipMember } from "./parallel-gzip.js";

export interface StoredSlug {
  /** `sha256:<hex>` of the file's bytes. */
  readonly id: string;
  readonly sizeBytes: number;
}

/**
 * Where slug files live. Narrow enough for an object store later: slugs are written once, by
 * content, and never changed; reads verify the bytes against the id.
 */
export interface SlugStore {
  /** Stores a gzip stream; resolves with its id once it is durable. The same bytes are kept once. */
  put(bytes: Readable): Promise<StoredSlug>;
  /** The slug's bytes; the stream errors (CORRUPT) at its end if they do not hash to the id. */
  get(id: string): Promise<Readable | undefined>;
  stat(id: string): Promise<StoredSlug | undefined>;
  /**
   * `length` bytes of the slug from `offset` (unverified: the caller checks what it reads), or
   * undefined when the slug or the range is not there.
   */
  readRange(id: string, offset: number, length: number): Promise<Buffer | undefined>;
  list(): Promise<StoredSlug[]>;
  /** For retention; a no-op for an absent slug. */
  delete(id: string): Promise<void>;
  /**
   * Stores keeping a slug's member index beside it (the object store, shared by several nodes):
   * a node that did not write an earlier slug can still copy its blocks.
   */
  putMemberIndex?(index: SlugMemberIndex): Promise<void>;
  getMemberIndex?(id: string): Promise<SlugMemberIndex | undefined>;
}

/** Where an earlier slug's members are: enough to copy them into a new slug of a similar tree. */
export interface SlugMemberIndex {
  readonly slugId: string;
  readonly members: readonly GzipMember[];
}

export const SLUG_ID = /^sha256:([0-9a-f]{64})$/;

export function parseSlugId(id: string): string | undefined {
  return SLUG_ID.exec(id)?.[1];
}
