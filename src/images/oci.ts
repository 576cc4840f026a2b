import { createHash } from "node:crypto";

/**
 * The OCI image format as slugforge writes it (image-spec v1.0): a config, a manifest naming the
 * config and the layers by digest. Every byte is decided by what goes in: keys in a fixed order,
 * no times but those given, so the same inputs give the same digests.
 */
export const MEDIA_TYPES = {
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  layerTar: "application/vnd.oci.image.layer.v1.tar",
} as const;

export interface Descriptor {
  readonly mediaType: string;
  /** `sha256:<hex>` of the blob's bytes. */
  readonly digest: string;
  readonly size: number;
}

/** A layer: its blob (as stored: gzip or plain tar) and the digest of the tar inside (the config's diff id). */
export interface LayerDescriptor extends Descriptor {
  readonly diffId: string;
}

export interface HistoryEntry {
  readonly created: string;
  readonly createdBy: string;
}

/** What the image config says, in our words. */
export interface ImageConfigSpec {
  readonly created: string;
  readonly os: string;
  readonly architecture: string;
  /** "uid:gid" */
  readonly user: string;
  readonly env: readonly string[];
  readonly entrypoint: readonly string[];
  readonly cmd?: readonly string[];
  readonly workingDir: string;
  readonly exposedPorts: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly diffIds: readonly string[];
  /** One entry per layer, bottom first. */
  readonly history: readonly HistoryEntry[];
}

export function sha256Digest(bytes: Buffer | string): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** The config's JSON bytes: every key in a fixed order (labels sorted), no whitespace. */
export function writeImageConfig(spec: ImageConfigSpec): Buffer {
  const config: Record<string, unknown> = {
    User: spec.user,
    ExposedPorts: spec.exposedPorts.length ? Object.fromEntries([...spec.exposedPorts].sort().map((p) => [p, {}])) : undefined,
    Env: [...spec.env],
    Entrypoint: [...spec.entrypoint],
    Cmd: spec.cmd ? [...spec.cmd] : undefined,
    WorkingDir: spec.workingDir,
    Labels: Object.fromEntries(Object.keys(spec.labels).sort().map((k) => [k, spec.labels[k]])),
  };
  return Buffer.from(
    JSON.stringify({
      created: spec.created,
      architecture: spec.architecture,
      os: spec.os,
      config,
      rootfs: { type: "layers", diff_ids: [...spec.diffIds] },
      history: spec.history.map((h) => ({ created: h.created, created_by: h.createdBy })),
    }),
  );
}

export function writeImageManifest(config: Descriptor, layers: readonly Descriptor[]): Buffer {
  const descriptor = (d: Descriptor): Descriptor => ({ mediaType: d.mediaType, digest: d.digest, size: d.size });
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.manifest, config: descriptor(config), layers: layers.map(descriptor) }));
}
