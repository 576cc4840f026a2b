import { chmodSync, existsSync, mkdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createApiHandler } from "./api/api-handler.js";
import { createApp, type App } from "./app.js";
import { createAuthenticator } from "./auth/principal.js";
import { createSessions } from "./auth/sessions.js";
import type { Builder } from "./builds/types.js";
import { createBuildService } from "./builds/build-service.js";
import { createBucketCacheRemote } from "./builds/cache-remote.js";
import { createStoreRecorder } from "./builds/store-recorder.js";
import { createAdminToken, readAdminToken } from "./config/admin-token.js";
import { parseConfig, type Config } from "./config/parse-config.js";
import { createDashboardHandler } from "./dashboard/dashboard-handler.js";
import type { ContainerRuntime } from "./docker/container-runtime.js";
import { createDockerRuntime } from "./docker/dockerode-runtime.js";
import { createEnginePool, type EnginePool } from "./docker/engine-pool.js";
import { SlugforgeError, isDiskFull } from "./errors.js";
import { AppLocks, createGitHandler, createHookBridge, createRepo, installHooks, sweepAllQuarantines } from "./git/index.js";
import { printAttempt } from "./images/attempt-lines.js";
import { createImageService } from "./images/image-service.js";
import { createLogger, type Logger } from "./log.js";
import { startNodePresence } from "./nodes/node-presence.js";
import { openSlugStore } from "./slug/open-slug-store.js";
import { openMetadataStore } from "./store/open-store.js";
import { releaseSource, runOneOff } from "./runs/one-off.js";
import { createDiskGuard } from "./util/disk-space.js";
import { ownFolder } from "./util/own-folder.js";
import { configureFailpoints } from "./util/failpoints.js";
import { setHeapGrowth } from "./util/heap-growth.js";
import { createDeliveryWorker, createWebhookEvents, type DeliverySettings, type WebhookEvents } from "./webhooks/index.js";

/** The shipped buildpacks, beside src/ and dist/. */
export const SHIPPED_BUILDPACKS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "buildpacks");
/**
 * The dashboard's page and assets, beside src/ and dist/ as well (found as hooks/ and launcher/ are,
 * so the benchmarks' build serves it too); where there is none the dashboard says so in the log.
 */
export const DASHBOARD_DIR = ownFolder("dashboard", "index.html") ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "dashboard");

/** Where other live nodes share the repos folder, a killed push's leftovers are swept once this old. */
const SHARED_LEFTOVER_AGE_MS = 24 * 3_600_000;

export interface ServerOptions {
  readonly log?: Logger;
  readonly runtime?: ContainerRuntime;
  readonly say?: (line: string) => void;
  readonly buildpacksDir?: string;
  readonly shippedBuildpacks?: readonly string[];
  /**
   * What builds pushes instead of the build service (the receive benchmark puts one that does
   * nothing here, to time receiving alone). Default: the build service.
   */
  readonly builder?: Builder;
  /** The webhook worker's timing (tests shorten the retry delays and the 10 s timeout). */
  readonly webhooks?: DeliverySettings;
  /** The node heartbeat's timing (tests shorten it to see a silent node's builds marked). */
  readonly presence?: { readonly heartbeatMs?: number; readonly staleMs?: number };
}

export interface Server {
  readonly app: App;
  readonly token: string;
  /** Listens on config.port (0 picks one); resolves with the port. */
  listen(): Promise<number>;
  /**
   * A stop that lets running builds end: no new connections or pushes (SERVER_STOPPING), builds
   * waiting for a slot cancelled, running ones go on until `cut` aborts (the grace period, a second
   * signal) and are cancelled then; once the pushes have their answers, close().
   */
  stop(cut: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/** The composition root: builds every real adapter from a config, without listening yet. */
export async function createServer(config: Config, options: ServerOptions = {}): Promise<Server> {
  const log = options.log ?? createLogger(config.logLevel);
  setHeapGrowth();
  if (config.failpointsDir) {
    configureFailpoints(config.failpointsDir);
    log.warn({ dir: config.failpointsDir }, "failpoints are on (SLUGFORGE_FAILPOINTS): for tests only");
  }
  const say = options.say ?? (() => undefined);
  makeDataFolderPrivate(config.dataDir, log);
  // Leftovers of a stopped process go first: on a full disk they may be what frees the space the
  // records below need (a start on a full disk still serves reads and refuses pushes). An object
  // store that does not answer stops the start here, before a token is made and printed.
  const { store: slugs, bucket } = await openSlugStore(config, log);
  if (bucket) say(`slugs and kept build caches: object store ${bucket.where}`);
  const token = resolveToken(config, say);
  // SLUGFORGE_BUILD_ENGINES: builds spread over several engines; the first is the primary, where
  // release images, one-offs and release phases stay (and the one engine, without the setting).
  const pool = config.buildEngines.length > 0 ? await startEnginePool(config, log, options.runtime) : undefined;
  const runtime = pool?.primary.runtime ?? options.runtime ?? createDockerRuntime({ dockerHost: config.dockerHost });
  const reposDir = config.reposDir;
  // With a shared database other nodes may be pushing into the repos folder now: only old leftovers
  // go before this node knows whether it is alone (then the rest, below).
  await sweepAllQuarantines(reposDir, config.databaseUrl ? SHARED_LEFTOVER_AGE_MS : 0);
  const disk = createDiskGuard(config.dataDir, config.minFreeBytes);

  const store = await openMetadataStore(config, log);
  // This node among those sharing the store: builds its previous process left running, and those
  // of nodes that stopped answering, are marked INTERRUPTED now and at every heartbeat.
  const presence = await startNodePresence({
    store,
    nodeId: config.nodeId,
    log,
    staleMs: config.nodeStaleMs,
    heartbeatMs: Math.max(100, Math.round(config.nodeStaleMs / 6)),
    ...options.presence,
  });
  if (config.databaseUrl && !presence.othersAlive()) await sweepAllQuarantines(reposDir);

  // Webhooks: events are queued with the release or build they tell of; the worker sends them,
  // beginning with those a previous process left pending.
  const deliveries = createDeliveryWorker({ store, log, ...options.webhooks });
  const events = createWebhookEvents({ log, onQueued: () => deliveries.wake() });
  // Each release's OCI image (DESIGN 7): pushed to SLUGFORGE_REGISTRY or loaded into the engine.
  const images = config.images ? createImageService({ store, slugs, runtime, config, log }) : undefined;
  // With images on, a release's webhook event waits for its image (made, or failed for now: then
  // it says image null), so a deploy system gets the image it is to run.
  const releaseEvents: WebhookEvents = images
    ? {
        ...events,
        async released(_tx, release, facts) {
          // Told once the image is made or failed, after the release's transaction: through the store itself.
          void images
            .attempt(release.app, release.version)
            .catch(() => undefined)
            .then(async () => events.released(store, (await store.getRelease(release.app, release.version)) ?? release, facts))
            .catch((err: unknown) => log.error({ err, app: release.app, release: release.version }, "could not tell the release's webhooks"));
        },
      }
    : events;

  const buildService = createBuildService({
    runtime,
    engines: pool,
    config,
    log,
    buildpacksDir: options.buildpacksDir ?? SHIPPED_BUILDPACKS_DIR,
    shippedBuildpacks: options.shippedBuildpacks,
    getConfigVars: async (app) => ({ ...config.buildConfigVars, ...(await store.getConfigVars(app)) }),
    // A release carries the app's own config vars (the operator's build-wide ones are for builds).
    releaseConfigVars: (app) => store.getConfigVars(app),
    slugStore: slugs,
    cacheRemote: bucket && createBucketCacheRemote(bucket, path.join(config.dataDir, "cache", ".uploads")),
    lastSlugId: async (app) => (await store.listReleases(app))[0]?.slugId ?? undefined,
    // Nodes sharing the store share engines (and, often, machines): background cache work waits
    // while any of them builds, not only this one.
    othersBuilding: config.databaseUrl ? lastKnown(() => store.countActiveBuildsElsewhere(config.nodeId).then((n) => n > 0), OTHERS_BUILDING_POLL_MS, log) : undefined,
    recorder: createStoreRecorder(store, { stack: config.stack, log, events: releaseEvents, node: config.nodeId }),
    disk,
    reusable: async (app, inputsKey) => {
      const found = await store.findBuildWithInputs(app, inputsKey);
      if (!found) return undefined;
      const { build, slug } = found;
      const sha256 = slug.id.replace(/^sha256:/, "");
      return { buildId: build.id, slug: { id: slug.id, sha256, sizeBytes: slug.sizeBytes }, processTypes: slug.processTypes, buildpacks: build.buildpacks };
    },
    // app.json's env is kept as config vars of a new app, in its activity as a change by the pusher.
    newAppConfig: {
      // Releases are numbered from 1 and never removed while the app exists.
      hasReleases: async (app) => (await store.getRelease(app, 1)) !== undefined,
      set: async (app, vars, actor) =>
        void (await store.recordActivity({ app, actor: actor ?? "admin", action: "config", detail: `Set ${Object.keys(vars).join(", ")} config vars from app.json` }, (tx) =>
          tx.updateConfigVars(app, vars),
        )),
    },
    afterRelease: images
      ? async (release, out, signal) => printAttempt(await images.attempt(release.app, release.version, signal), release, out, config.imageWaitMs)
      : undefined,
  });
  await images?.resume();
  await buildService.sweepStrayContainers().catch((err: unknown) => log.warn({ err }, "could not sweep stray build containers"));
  // Said at start, so an operator knows how caches reach builds here (in a container: tar, unless
  // the data folder is mounted at the same path on the host) and why.
  await buildService.cacheMode().then(
    ({ mode, why }) => {
      log.info({ cacheMode: mode, why }, `build caches: ${mode} mode`);
      say(`build caches: ${mode} mode (${why})`);
    },
    (err: unknown) => log.warn({ err }, "could not choose the build cache mode yet; the first build chooses it"),
  );

  const hooksDir = path.join(config.dataDir, "hooks");
  await installHooks(hooksDir).catch((err: unknown) => {
    // A full disk at start: the hook written by an earlier start still serves.
    if (!isDiskFull(err) || !existsSync(path.join(hooksDir, "pre-receive"))) throw err;
    log.warn({ err }, "could not rewrite the pre-receive hook (the disk is full); the existing one is used");
  });
  // One authenticator for git and the API: the same token means the same principal on both.
  const auth = createAuthenticator({ adminToken: token, tokens: store, log });
  // The dashboard's sign-ins, a credential of the API beside the tokens.
  const sessions = createSessions(auth);
  // One push per app at a time, across every node sharing the store where it has a shared lock.
  const lockPushes = store.lockPushes?.bind(store);
  const locks = lockPushes ? new AppLocks(lockPushes) : undefined;
  const bridge = createHookBridge({ socketPath: path.join(config.dataDir, "hook.sock"), builder: options.builder ?? buildService, log, disk, locks });
  await bridge.listen();
  const git = createGitHandler({
    reposDir,
    leftoverAgeMs: () => (presence.othersAlive() ? SHARED_LEFTOVER_AGE_MS : 0),
    hooksDir,
    auth,
    bridge,
    log,
    maxPushBytes: config.maxPushBytes,
    onAppCreated: async (app, actor) => {
      if (await store.getApp(app)) return;
      await store.recordActivity({ app, actor, action: "app.create", detail: "created by a first push" }, (tx) => tx.ensureApp(app));
    },
    disk,
  });
  const api = createApiHandler({
    auth,
    sessions,
    store,
    slugs,
    log,
    queueDepth: () => buildService.stats().waiting,
    engines: pool ? () => pool.status() : undefined,
    cacheCopies: () => buildService.stats().cacheCopies,
    prepareApp: async (name) => void (await createRepo(reposDir, name)),
    disk,
    events: releaseEvents,
    startRun: async ({ app, release, spec }, io, signal) => {
      return runOneOff({
        runtime,
        stack: config.stack,
        app,
        from: await releaseSource(runtime, (id) => slugs.get(id), release),
        processTypes: release.processTypes,
        args: spec.args,
        env: release.config,
        network: config.buildNetwork,
        mounts: config.buildMounts,
        publish: spec.port === undefined ? undefined : { hostIp: "127.0.0.1", hostPort: spec.port },
        tty: spec.tty,
        ...io,
        signal,
        log,
        purpose: `run v${release.version}`,
      });
    },
    releaseImage: images
      ? async (name, version) => {
          const attempt = await images.attempt(name, version);
          const release = await store.getRelease(name, version);
          if (!release) throw new SlugforgeError("NOT_FOUND", `${name} has no release v${version}`);
          return { release, state: attempt.state, error: attempt.state === "failed" ? attempt.error : undefined };
        }
      : undefined,
    removeApp: async (name) => {
      await git.removeRepo(name);
      await buildService.forgetApp(name);
    },
  });

  const app = createApp({
    log,
    gitHandler: git.handle,
    apiHandler: api,
    dashboardHandler: createDashboardHandler({ sessions, dir: DASHBOARD_DIR, log }),
    onClose: async () => {
      await presence.close();
      pool?.close();
      await git.close();
      await bridge.close();
      await buildService.close();
      await deliveries.close();
      await images?.close();
      await store.close();
    },
  });
  deliveries.start();
  return {
    app,
    token,
    async listen() {
      await new Promise<void>((resolve, reject) => {
        app.server.once("error", reject);
        app.server.listen(config.port, config.host, () => resolve());
      });
      const address = app.server.address();
      const port = typeof address === "object" && address ? address.port : config.port;
      log.info({ port, dataDir: config.dataDir }, "listening");
      return port;
    },
    async stop(cut) {
      app.stopListening();
      git.refusePushes();
      const { running, waiting } = buildService.stats();
      log.info({ running, waiting, pushes: git.pushesRunning() }, "stopping: no new pushes; running builds may finish");
      await buildService.drain(cut);
      // The builds have ended: their pushes get the answer and git moves (or keeps) the branch.
      const settled = Date.now() + 10_000;
      while (git.pushesRunning() > 0 && Date.now() < settled) await new Promise((resolve) => setTimeout(resolve, 100));
      await app.close();
      log.info("stopped");
    },
    close: () => app.close(),
  };
}

/**
 * The build engines, each pinged once before the server takes pushes; the stack images are copied
 * to those that lack them behind the start (they take builds once they have them). `runtime` (a
 * test's) stands for the first engine.
 */
async function startEnginePool(config: Config, log: Logger, runtime: ContainerRuntime | undefined): Promise<EnginePool> {
  const pool = createEnginePool({
    engines: config.buildEngines.map((url, i) => ({ url, runtime: i === 0 && runtime ? runtime : createDockerRuntime({ dockerHost: url }) })),
    log,
    images: ["build", "run"].map((role) => `slugforge/stack:${config.stack}-${role}`),
    checkMs: config.engineCheckMs,
  });
  await pool.start();
  for (const engine of pool.status()) log.info({ engine: engine.url, state: engine.state, why: engine.lastError }, "build engine");
  return pool;
}

/** `slugforge serve`: reads the environment, starts everything, prints where it listens. */
export async function startServer(env: NodeJS.ProcessEnv, say: (line: string) => void): Promise<{ close(): Promise<void>; stop(cut: AbortSignal): Promise<void>; port: number; stopGraceMs: number }> {
  const parsed = parseConfig(env);
  if (parsed.errors) {
    throw new SlugforgeError("CONFIG_INVALID", `the settings are not usable:\n  ${parsed.errors.join("\n  ")}`);
  }
  const server = await createServer(parsed.config, { say });
  const port = await server.listen();
  say(`slugforge listening on http://${parsed.config.host}:${port} (data in ${parsed.config.dataDir})`);
  say(`push an app: git remote add paas http://git:<token>@<this host>:${port}/<app>.git && git push paas main`);
  return { close: () => server.close(), stop: (cut) => server.stop(cut), port, stopGraceMs: parsed.config.stopGraceMs };
}

/**
 * The data folder holds config var values (metadata.db), the token and every app's source: only the
 * server's user may enter it. Made 0700 at every start, also when it exists with another mode (an
 * earlier version made it 0755, and an operator may have changed it), so nothing inside depends on
 * its own mode.
 */
function makeDataFolderPrivate(dataDir: string, log: Logger): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const mode = statSync(dataDir).mode & 0o777;
  if (mode === 0o700) return;
  try {
    chmodSync(dataDir, 0o700);
  } catch (err) {
    throw new SlugforgeError("CONFIG_INVALID", `SLUGFORGE_DATA=${dataDir}: cannot make the data folder private (chmod 0700): ${(err as Error).message}`, { cause: err });
  }
  log.warn({ dataDir, was: mode.toString(8) }, "the data folder could be read by other users; it is now 0700");
}

/** SLUGFORGE_TOKEN, or the one kept in the data folder, or a new one printed once. */
function resolveToken(config: Config, say: (line: string) => void): string {
  const kept = readAdminToken(config);
  if (kept !== undefined) return kept;
  const { token, file } = createAdminToken(config.dataDir);
  say(`generated an API token (kept in ${file}); it is shown only this once:\n\n    ${token}\n`);
  return token;
}

const OTHERS_BUILDING_POLL_MS = 250;

/**
 * A yes/no asked of the store, answered at once with the last answer (false before the first):
 * a new question goes out when the answer is older than `maxAgeMs` and none is on its way. A
 * store that cannot answer leaves the last answer.
 */
function lastKnown(ask: () => Promise<boolean>, maxAgeMs: number, log: Logger): () => boolean {
  let answer = false;
  let askedAt = 0;
  let asking = false;
  return () => {
    if (!asking && Date.now() - askedAt >= maxAgeMs) {
      asking = true;
      askedAt = Date.now();
      ask().then(
        (yes) => (answer = yes),
        (err: unknown) => log.debug({ err }, "could not ask the store whether other nodes build"),
      ).finally(() => (asking = false));
    }
    return answer;
  };
}
