import { createReadStream } from "node:fs";
import type { Readable } from "node:stream";
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import type { StorageSetting } from "../config/storage-setting.js";
import { SlugforgeError } from "../errors.js";

/**
 * One bucket of an S3-compatible object store, in our own types: the only file that knows the AWS
 * SDK. Made for what Swift's s3api answers as well as AWS does: path-style addresses, no
 * conditional PUT (callers check, then put), no aws-chunked uploads (checksums only where an
 * operation requires one), single deletes (DeleteObjects wants a Content-MD5 Swift does not get).
 * Every failure but "not there" is a STORAGE_UNAVAILABLE that names the endpoint and the bucket.
 */
export interface ObjectBucket {
  /** `bucket NAME at ENDPOINT`, for messages. */
  readonly where: string;
  /** Its size and user metadata (`x-amz-meta-*`, names in lower case). */
  head(key: string): Promise<{ size: number; metadata: Record<string, string> } | undefined>;
  get(key: string): Promise<Readable | undefined>;
  /** `length` bytes from `offset`; undefined when the object or the range is not there. */
  getRange(key: string, offset: number, length: number): Promise<Buffer | undefined>;
  /** Uploads a local file: one PUT up to `multipartFrom` bytes, a multipart upload (aborted on failure) above. */
  putFile(key: string, file: string, size: number, options?: { signal?: AbortSignal; metadata?: Record<string, string>; contentType?: string }): Promise<void>;
  putBytes(key: string, body: Buffer, contentType?: string): Promise<void>;
  list(prefix: string): Promise<{ key: string; size: number }[]>;
  delete(key: string): Promise<void>;
  /** Makes sure the bucket answers; creates it when it does not exist. */
  ensure(): Promise<"exists" | "created">;
}

export interface BucketOptions {
  /** Files above this many bytes go up as multipart uploads (default 64 MiB). */
  readonly multipartFrom?: number;
  /** Size of each part (default 16 MiB; S3 wants at least 5 MiB). At most `queueSize` parts are in memory. */
  readonly partSize?: number;
  readonly queueSize?: number;
}

const MiB = 1024 * 1024;

export function createS3Bucket(setting: StorageSetting, options: BucketOptions = {}): ObjectBucket {
  const client = new S3Client({
    endpoint: setting.endpoint,
    region: setting.region,
    forcePathStyle: true,
    credentials: { accessKeyId: setting.accessKeyId, secretAccessKey: setting.secretAccessKey, sessionToken: setting.sessionToken },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 120_000 },
    maxAttempts: 3,
  });
  const Bucket = setting.bucket;
  const where = `bucket ${Bucket} at ${setting.endpoint}`;
  const multipartFrom = options.multipartFrom ?? 64 * MiB;
  const partSize = Math.max(options.partSize ?? 16 * MiB, 5 * MiB);
  const queueSize = options.queueSize ?? 2;
  const failed = (what: string, err: unknown): SlugforgeError => storageError(where, what, err);

  return {
    where,
    async head(key) {
      try {
        const found = await client.send(new HeadObjectCommand({ Bucket, Key: key }));
        return { size: found.ContentLength ?? 0, metadata: found.Metadata ?? {} };
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw failed(`HEAD ${key}`, err);
      }
    },
    async get(key) {
      try {
        const found = await client.send(new GetObjectCommand({ Bucket, Key: key }));
        return found.Body as Readable;
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw failed(`GET ${key}`, err);
      }
    },
    async getRange(key, offset, length) {
      if (length <= 0) return Buffer.alloc(0);
      try {
        const found = await client.send(new GetObjectCommand({ Bucket, Key: key, Range: `bytes=${offset}-${offset + length - 1}` }));
        const bytes = Buffer.from(await found.Body!.transformToByteArray());
        return bytes.length === length ? bytes : undefined;
      } catch (err) {
        if (isNotFound(err) || status(err) === 416) return undefined;
        throw failed(`GET ${key} (range)`, err);
      }
    },
    async putFile(key, file, size, { signal, metadata, contentType = "application/gzip" } = {}) {
      try {
        if (size <= multipartFrom) {
          await client.send(new PutObjectCommand({ Bucket, Key: key, Body: createReadStream(file), ContentLength: size, ContentType: contentType, Metadata: metadata }), { abortSignal: signal });
          return;
        }
        // lib-storage aborts the multipart upload when a part fails (leavePartsOnError: false):
        // nothing becomes visible at the key, and no parts are left behind.
        const upload = new Upload({
          client,
          params: { Bucket, Key: key, Body: createReadStream(file, { highWaterMark: MiB }), ContentType: contentType, Metadata: metadata },
          partSize,
          queueSize,
          leavePartsOnError: false,
        });
        const onAbort = (): void => void upload.abort().catch(() => undefined);
        signal?.addEventListener("abort", onAbort, { once: true });
        try {
          await upload.done();
        } finally {
          signal?.removeEventListener("abort", onAbort);
        }
      } catch (err) {
        throw failed(`PUT ${key}`, err);
      }
    },
    async putBytes(key, body, contentType = "application/octet-stream") {
      try {
        await client.send(new PutObjectCommand({ Bucket, Key: key, Body: body, ContentLength: body.length, ContentType: contentType }));
      } catch (err) {
        throw failed(`PUT ${key}`, err);
      }
    },
    async list(prefix) {
      const out: { key: string; size: number }[] = [];
      let token: string | undefined;
      try {
        do {
          const page = await client.send(new ListObjectsV2Command({ Bucket, Prefix: prefix, ContinuationToken: token }));
          for (const o of page.Contents ?? []) if (o.Key) out.push({ key: o.Key, size: o.Size ?? 0 });
          token = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (token);
      } catch (err) {
        throw failed(`LIST ${prefix}`, err);
      }
      return out;
    },
    async delete(key) {
      try {
        await client.send(new DeleteObjectCommand({ Bucket, Key: key }));
      } catch (err) {
        if (!isNotFound(err)) throw failed(`DELETE ${key}`, err);
      }
    },
    async ensure() {
      try {
        await client.send(new HeadBucketCommand({ Bucket }));
        return "exists";
      } catch (err) {
        if (!isNotFound(err)) throw failed("HEAD (the bucket)", err);
      }
      try {
        await client.send(new CreateBucketCommand({ Bucket }));
        return "created";
      } catch (err) {
        throw failed("creating the bucket", err);
      }
    },
  };
}

function status(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

function isNotFound(err: unknown): boolean {
  const name = (err as { name?: string } | undefined)?.name;
  return name === "NotFound" || name === "NoSuchKey" || name === "NoSuchBucket" || status(err) === 404;
}

/** A failure of the store as one coded error: what was asked, of which store, and what came back. */
function storageError(where: string, what: string, err: unknown): SlugforgeError {
  const code = status(err);
  const name = (err as { name?: string; code?: string } | undefined)?.code ?? (err as { name?: string } | undefined)?.name;
  const reason =
    code === 403 || name === "InvalidAccessKeyId" || name === "SignatureDoesNotMatch" || name === "AccessDenied"
      ? "access denied: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
      : code
        ? `HTTP ${code} ${name ?? ""}`.trim()
        : `no answer (${name ?? "error"}: ${err instanceof Error ? err.message : String(err)})`;
  return new SlugforgeError("STORAGE_UNAVAILABLE", `object store ${where}: ${what} failed: ${reason}`, { cause: err, data: { where, status: code } });
}
