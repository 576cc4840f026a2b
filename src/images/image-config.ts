import type { SlugRecord } from "../store/types.js";
import { LAUNCHER_PATH } from "./launch-layer.js";
import { writeImageConfig, type LayerDescriptor } from "./oci.js";
import type { StackBase } from "./stack-layers.js";
import { CONTAINER_PORT } from "../util/preview-port.js";

/** The uid:gid apps run as: the stack's `slug` user, who owns every file of the slug. */
export const APP_USER = "1000:1000";
/** The port a web process listens on when nothing sets PORT, as on the boot probe. */
export const DEFAULT_PORT = CONTAINER_PORT;
const CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export const LABELS = {
  app: "org.slugforge.app",
  release: "org.slugforge.release",
  commit: "org.slugforge.commit",
  slug: "org.slugforge.slug",
  stack: "org.slugforge.stack",
  stackImage: "org.slugforge.stack-image",
  buildpacks: "org.slugforge.buildpacks",
  processTypes: "org.slugforge.process-types",
  revision: "org.opencontainers.image.revision",
} as const;

export interface ImageContent {
  readonly app: string;
  /** The app's first release with this slug and these process types (later ones share the image). */
  readonly firstRelease: number;
  readonly slug: SlugRecord;
  readonly processTypes: Readonly<Record<string, string>>;
  readonly base: StackBase;
  readonly launch: LayerDescriptor;
  readonly slugLayer: LayerDescriptor;
}

/**
 * A release image's config. Everything in it follows from the app, its slug record (commit,
 * buildpacks, stack, when it was made), the run image and the process types; config vars are not
 * in it (they are secrets: whatever runs the image gives the environment). Its one time is the
 * slug's: the same content gives the same bytes, whenever it is made.
 */
export function releaseImageConfig(c: ImageContent): Buffer {
  const web = Object.hasOwn(c.processTypes, "web");
  const types = Object.keys(c.processTypes).sort();
  const baseEnv = c.base.env.filter((e) => !/^(STACK|LANG)=/.test(e));
  return writeImageConfig({
    created: c.slug.createdAt,
    os: c.base.os,
    architecture: c.base.architecture,
    user: APP_USER,
    env: [...(baseEnv.some((e) => e.startsWith("PATH=")) ? [] : [`PATH=${CLEAN_PATH}`]), ...baseEnv, "LANG=C.UTF-8", `STACK=${c.slug.stack}`],
    entrypoint: [LAUNCHER_PATH],
    // `docker run IMAGE` runs the web process when there is one, as a dyno would.
    cmd: web ? ["web"] : undefined,
    workingDir: "/app",
    exposedPorts: web ? [`${DEFAULT_PORT}/tcp`] : [],
    labels: {
      [LABELS.app]: c.app,
      [LABELS.release]: `v${c.firstRelease}`,
      [LABELS.commit]: c.slug.commit,
      [LABELS.revision]: c.slug.commit,
      [LABELS.slug]: c.slug.id,
      [LABELS.stack]: c.slug.stack,
      [LABELS.stackImage]: c.base.imageId,
      [LABELS.buildpacks]: JSON.stringify(c.slug.buildpacks),
      [LABELS.processTypes]: JSON.stringify(Object.fromEntries(types.map((t) => [t, c.processTypes[t]]))),
    },
    diffIds: [...c.base.diffIds, c.launch.diffId, c.slugLayer.diffId],
    history: [
      ...c.base.diffIds.map(() => ({ created: c.base.created, createdBy: `slugforge stack ${c.slug.stack}: ${c.base.ref} (${c.base.imageId.slice(0, 19)})` })),
      { created: c.slug.createdAt, createdBy: `slugforge launcher and process types: ${types.join(", ") || "none"}` },
      { created: c.slug.createdAt, createdBy: `slug ${c.slug.id} (commit ${c.slug.commit.slice(0, 7)}, ${c.slug.buildpacks.join(", ") || "no buildpacks"})` },
    ],
  });
}
