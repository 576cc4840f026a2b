import os from "node:os";
import path from "node:path";
import { isConfigVarName } from "../names.js";
import { parseDatabaseUrl } from "./database-setting.js";
import { parseRegistrySetting, type RegistrySetting } from "./registry-setting.js";
import { parseStorageSetting, type StorageSetting } from "./storage-setting.js";

export type { RegistrySetting, StorageSetting };

export type NetworkMode = "bridge" | "none" | "host";

/**
 * How build caches reach build containers: `auto` picks the first that works here (layer, then
 * mount, then tar; see builds/build-container.ts), the others force one.
 */
export type CacheModeSetting = "auto" | "layer" | "mount" | "tar";
export const CACHE_MODE_SETTINGS: readonly CacheModeSetting[] = ["auto", "layer", "mount", "tar"];

export interface BuildMount {
  readonly host: string;
  readonly container: string;
  readonly readOnly: boolean;
}

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  /** Where the apps' bare git repos live (SLUGFORGE_REPOS_DIR): `<dataDir>/repos`, or a folder every node mounts. */
  readonly reposDir: string;
  /** This process's name among the nodes that share one store (SLUGFORGE_NODE_ID, the hostname by default). */
  readonly nodeId: string;
  /** How long a node may stay silent before other nodes take it for dead and mark its builds INTERRUPTED (SLUGFORGE_NODE_STALE). */
  readonly nodeStaleMs: number;
  /** SLUGFORGE_DATABASE_URL: metadata in PostgreSQL (several nodes share it); undefined: SQLite in the data folder. */
  readonly databaseUrl: string | undefined;
  /** Undefined means: generate one on first start and keep it in the data folder. */
  readonly token: string | undefined;
  readonly stack: string;
  readonly buildTimeoutMs: number;
  /** Wall-clock limit of a deploy's release phase (the Procfile's `release:` command). */
  readonly releaseTimeoutMs: number;
  readonly buildConcurrency: number;
  readonly buildNetwork: NetworkMode;
  readonly buildMounts: readonly BuildMount[];
  /** Operator-wide config vars every build sees in ENV_DIR (an app's own vars win). */
  readonly buildConfigVars: Readonly<Record<string, string>>;
  readonly buildMemoryBytes: number;
  readonly buildCpus: number;
  readonly buildPids: number;
  /** SLUGFORGE_BUILD_CACHE_MODE: how caches reach build containers; `auto` unless the operator forces one. */
  readonly buildCacheMode: CacheModeSetting;
  /**
   * SLUGFORGE_LAID_SLUG (`on`, `off`): in layer mode, the /app laid in a prepared container is read
   * in the background as a slug tar, and the next slug is made from it and what changed (on by default).
   */
  readonly laidSlug: boolean;
  /** How long running builds may go on after a stop signal before they are cancelled (SLUGFORGE_STOP_GRACE). */
  readonly stopGraceMs: number;
  readonly maxPushBytes: number;
  readonly maxSlugBytes: number;
  /** Free space kept on the data folder's disk: under it pushes and new apps are refused (STORAGE_FULL); 0 turns the check off. */
  readonly minFreeBytes: number;
  /** Tests only: a folder through which a test holds pushes at named points (util/failpoints.ts). */
  readonly failpointsDir: string | undefined;
  /** Folders whose buildpacks apps may name with file:// URLs; undefined means the shipped buildpacks' folder only. */
  readonly buildpackRoots: readonly string[] | undefined;
  readonly dockerHost: string | undefined;
  /**
   * SLUGFORGE_BUILD_ENGINES: the Docker engines builds are spread over (DOCKER_HOST-style URLs), the
   * first being the primary (release images, `slugforge run`, release phases). Empty: the one engine
   * of DOCKER_HOST, as before.
   */
  readonly buildEngines: readonly string[];
  /** SLUGFORGE_ENGINE_CHECK: how often each build engine is pinged (only with several engines). */
  readonly engineCheckMs: number;
  readonly logLevel: string;
  /** Whether each release gets an OCI image (SLUGFORGE_IMAGES, on by default). */
  readonly images: boolean;
  /** Where release images are pushed; undefined: they are loaded into the engine instead. */
  readonly registry: RegistrySetting | undefined;
  /** SLUGFORGE_STORAGE_URL: slugs and kept build caches in an S3-compatible object store; undefined: the data folder. */
  readonly storage: StorageSetting | undefined;
  /** How long the registry may stay silent (connecting, answering, taking an upload) before an attempt fails. */
  readonly registryTimeoutMs: number;
  /** How long a push (or an API call) waits for its release's image before leaving it to the background. */
  readonly imageWaitMs: number;
  /** The first wait before a failed image is tried again; it doubles each time, up to 10 minutes. */
  readonly imageRetryMs: number;
}

export type ParseResult = { config: Config; errors?: undefined } | { config?: undefined; errors: string[] };

const MB = 1024 * 1024;
const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Reads settings from an environment object; returns a frozen config, or every error at once. */
export function parseConfig(env: Record<string, string | undefined>, cwd = process.cwd()): ParseResult {
  const errors: string[] = [];
  /** A setting read by `parse`, its default when unset, an error saying what is expected when unreadable. */
  const parsed = (name: string, fallback: number, parse: (raw: string) => number | undefined, expected: string): number => {
    const raw = env[name];
    if (raw === undefined || raw === "") return fallback;
    const value = parse(raw);
    if (value === undefined) {
      errors.push(`${name}=${raw}: expected ${expected}`);
      return fallback;
    }
    return value;
  };
  const int = (name: string, fallback: number, min: number): number =>
    parsed(name, fallback, (raw) => (Number.isInteger(Number(raw)) && Number(raw) >= min ? Number(raw) : undefined), `a whole number of at least ${min}`);
  const duration = (name: string, fallbackMs: number): number => parsed(name, fallbackMs, parseDuration, "a duration such as 900, 90s, 15m or 1h (a bare number is seconds)");
  const bytes = (name: string, fallback: number): number => parsed(name, fallback, parseBytes, "a size such as 500000000, 500MB or 2GiB");


  const network = (env.SLUGFORGE_BUILD_NETWORK ?? "bridge") || "bridge";
  if (!["bridge", "none", "host"].includes(network)) {
    errors.push(`SLUGFORGE_BUILD_NETWORK=${network}: expected bridge, none or host`);
  }
  const token = env.SLUGFORGE_TOKEN === "" ? undefined : env.SLUGFORGE_TOKEN;
  if (token !== undefined && token.length < 8) {
    errors.push("SLUGFORGE_TOKEN: must be at least 8 characters (or unset it to have one generated)");
  }
  const images = (env.SLUGFORGE_IMAGES || "on").toLowerCase();
  if (!["on", "off"].includes(images)) errors.push(`SLUGFORGE_IMAGES=${env.SLUGFORGE_IMAGES}: expected on or off`);
  let registry: RegistrySetting | undefined;
  if (env.SLUGFORGE_REGISTRY) {
    const parsedRegistry = parseRegistrySetting(env.SLUGFORGE_REGISTRY);
    if ("error" in parsedRegistry) errors.push(`SLUGFORGE_REGISTRY=${env.SLUGFORGE_REGISTRY}: ${parsedRegistry.error}`);
    else registry = parsedRegistry;
  }
  let storage: StorageSetting | undefined;
  if (env.SLUGFORGE_STORAGE_URL) {
    const parsedStorage = parseStorageSetting(env.SLUGFORGE_STORAGE_URL, env);
    if ("errors" in parsedStorage) errors.push(...parsedStorage.errors);
    else storage = parsedStorage;
  }
  let databaseUrl: string | undefined;
  if (env.SLUGFORGE_DATABASE_URL) {
    const parsedDatabase = parseDatabaseUrl(env.SLUGFORGE_DATABASE_URL);
    if ("error" in parsedDatabase) errors.push(`SLUGFORGE_DATABASE_URL: ${parsedDatabase.error}`);
    else databaseUrl = parsedDatabase.url;
  }
  const cacheMode = env.SLUGFORGE_BUILD_CACHE_MODE || "auto";
  if (!(CACHE_MODE_SETTINGS as readonly string[]).includes(cacheMode)) {
    errors.push(`SLUGFORGE_BUILD_CACHE_MODE=${cacheMode}: expected ${CACHE_MODE_SETTINGS.join(", ")}`);
  }
  const laidSlug = env.SLUGFORGE_LAID_SLUG || "on";
  if (laidSlug !== "on" && laidSlug !== "off") errors.push(`SLUGFORGE_LAID_SLUG=${laidSlug}: expected on or off`);
  const stack = env.SLUGFORGE_STACK || "debian-13";
  if (!/^[a-z0-9][a-z0-9.-]*$/.test(stack)) errors.push(`SLUGFORGE_STACK=${stack}: expected a name like debian-13`);

  const nodeId = env.SLUGFORGE_NODE_ID || os.hostname();
  if (!NODE_ID.test(nodeId)) {
    errors.push(`SLUGFORGE_NODE_ID=${nodeId}: expected 1-63 letters, digits, '.', '_' or '-' (a name for this node${env.SLUGFORGE_NODE_ID ? "" : "; the hostname is not one"})`);
  }
  const dataDir = path.resolve(cwd, env.SLUGFORGE_DATA || ".slugforge");

  const config: Config = {
    port: int("PORT", 5000, 0),
    host: env.SLUGFORGE_HOST || "0.0.0.0",
    dataDir,
    reposDir: env.SLUGFORGE_REPOS_DIR ? path.resolve(cwd, env.SLUGFORGE_REPOS_DIR) : path.join(dataDir, "repos"),
    nodeId,
    nodeStaleMs: duration("SLUGFORGE_NODE_STALE", 30_000),
    databaseUrl,
    token,
    stack,
    buildTimeoutMs: duration("SLUGFORGE_BUILD_TIMEOUT", 15 * 60_000),
    releaseTimeoutMs: duration("SLUGFORGE_RELEASE_TIMEOUT", 10 * 60_000),
    buildConcurrency: int("SLUGFORGE_BUILD_CONCURRENCY", 2, 1),
    buildNetwork: network as NetworkMode,
    buildMounts: parseMounts(env.SLUGFORGE_BUILD_MOUNTS, errors),
    buildConfigVars: parseBuildConfigVars(env.SLUGFORGE_BUILD_CONFIG_VARS, errors),
    buildMemoryBytes: bytes("SLUGFORGE_BUILD_MEMORY", 2048 * MB),
    buildCpus: int("SLUGFORGE_BUILD_CPUS", 2, 1),
    buildPids: int("SLUGFORGE_BUILD_PIDS", 1024, 16),
    buildCacheMode: cacheMode as CacheModeSetting,
    laidSlug: laidSlug !== "off",
    stopGraceMs: duration("SLUGFORGE_STOP_GRACE", 60_000),
    maxPushBytes: bytes("SLUGFORGE_MAX_PUSH_BYTES", 1024 * MB),
    maxSlugBytes: bytes("SLUGFORGE_MAX_SLUG_BYTES", 500 * 1000 * 1000),
    minFreeBytes: env.SLUGFORGE_MIN_FREE_BYTES?.trim() === "0" ? 0 : bytes("SLUGFORGE_MIN_FREE_BYTES", 1024 * MB),
    failpointsDir: env.SLUGFORGE_FAILPOINTS ? path.resolve(cwd, env.SLUGFORGE_FAILPOINTS) : undefined,
    buildpackRoots: parseRoots(env.SLUGFORGE_BUILDPACK_ROOTS, cwd, errors),
    dockerHost: env.DOCKER_HOST || undefined,
    buildEngines: parseEngines(env.SLUGFORGE_BUILD_ENGINES, errors),
    engineCheckMs: duration("SLUGFORGE_ENGINE_CHECK", 3000),
    logLevel: env.SLUGFORGE_LOG_LEVEL || env.LOG_LEVEL || "info",
    images: images !== "off",
    registry,
    storage,
    registryTimeoutMs: duration("SLUGFORGE_REGISTRY_TIMEOUT", 20_000),
    imageWaitMs: duration("SLUGFORGE_IMAGE_WAIT", 2 * 60_000),
    imageRetryMs: duration("SLUGFORGE_IMAGE_RETRY", 30_000),
  };
  if (config.port > 65535) errors.push(`PORT=${config.port}: expected 0 to 65535`);
  if (errors.length > 0) return { errors };
  return { config: Object.freeze(config) };
}

export function parseDuration(raw: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? "s";
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit] ?? 1000;
  const ms = Math.round(n * factor);
  return ms > 0 ? ms : undefined;
}

export function parseBytes(raw: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib|k|m|g)?$/i.exec(raw.trim());
  if (!m) return undefined;
  const unit = (m[2] ?? "b").toLowerCase();
  const factors: Record<string, number> = {
    b: 1, k: 1024, kb: 1000, kib: 1024, m: MB, mb: 1000 * 1000, mib: MB, g: 1024 * MB, gb: 1e9, gib: 1024 * MB,
  };
  const n = Math.round(Number(m[1]) * (factors[unit] ?? 1));
  return n > 0 ? n : undefined;
}

function parseBuildConfigVars(raw: string | undefined, errors: string[]): Record<string, string> {
  if (!raw) return {};
  const bad = (): Record<string, string> => {
    errors.push(`SLUGFORGE_BUILD_CONFIG_VARS: expected a JSON object of string values, e.g. {"PIP_INDEX_URL":"https://pypi.example/simple"}`);
    return {};
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return bad();
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return bad();
  const vars: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (!isConfigVarName(key) || typeof value !== "string") return bad();
    vars[key] = value;
  }
  return Object.freeze(vars);
}

/** `SLUGFORGE_BUILD_ENGINES`: Docker URLs separated by commas (unix:///path, tcp://host:port), each named once. */
function parseEngines(raw: string | undefined, errors: string[]): string[] {
  if (raw === undefined || raw.trim() === "") return [];
  const engines: string[] = [];
  for (const item of raw.split(",").map((s) => s.trim()).filter(Boolean)) {
    const url = URL.canParse(item) ? new URL(item) : undefined;
    const usable = url && ((url.protocol === "unix:" && url.pathname.length > 1 && !url.host) || (["tcp:", "http:", "https:"].includes(url.protocol) && url.hostname !== ""));
    if (!usable) {
      errors.push(`SLUGFORGE_BUILD_ENGINES: "${item}": expected a Docker URL such as unix:///var/run/docker.sock or tcp://host:2376`);
    } else if (engines.includes(item)) {
      errors.push(`SLUGFORGE_BUILD_ENGINES: "${item}" is named twice; name each engine once`);
    } else {
      engines.push(item);
    }
  }
  return engines;
}

/** `SLUGFORGE_BUILDPACK_ROOTS`: folders separated by `:` or `,`, each absolute or relative to the working folder. */
function parseRoots(raw: string | undefined, cwd: string, errors: string[]): string[] | undefined {
  if (raw === undefined || raw.trim() === "") return undefined;
  const roots = raw.split(/[:,]/).map((s) => s.trim()).filter(Boolean);
  for (const r of roots) {
    if (r.includes("\0")) errors.push(`SLUGFORGE_BUILDPACK_ROOTS: "${r}" is not a folder path`);
  }
  return roots.map((r) => path.resolve(cwd, r));
}

function parseMounts(raw: string | undefined, errors: string[]): BuildMount[] {
  if (!raw) return [];
  const mounts: BuildMount[] = [];
  for (const item of raw.split(",").map((s) => s.trim()).filter(Boolean)) {
    const parts = item.split(":");
    const [host, container, mode] = parts;
    if (parts.length < 2 || parts.length > 3 || !host || !container || !path.isAbsolute(host) || !path.isAbsolute(container)) {
      errors.push(`SLUGFORGE_BUILD_MOUNTS: "${item}": expected /host/path:/container/path[:ro|rw], absolute paths`);
      continue;
    }
    if (mode !== undefined && mode !== "ro" && mode !== "rw") {
      errors.push(`SLUGFORGE_BUILD_MOUNTS: "${item}": the mode must be ro or rw`);
      continue;
    }
    mounts.push({ host, container, readOnly: mode !== "rw" });
  }
  return mounts;
}
