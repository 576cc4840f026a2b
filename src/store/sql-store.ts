import { SlugforgeError, type ErrorCode } from "../errors.js";
import { isFinishedBuild, type BuildStatus } from "../build-status.js";
import { sqlActivity } from "./sql-activity.js";
import { sqlNodes } from "./sql-nodes.js";
import { sqlTokens } from "./sql-tokens.js";
import { sqlWebhooks } from "./sql-webhooks.js";
import type { Row, Sql } from "./sql.js";
import type { AppRecord, BuildRecord, BuildUpdate, MetadataTx, ReleaseRecord, SlugRecord } from "./types.js";

const now = (): string => new Date().toISOString();
const json = (v: unknown): string => JSON.stringify(v);

const toApp = (r: Row): AppRecord => ({ name: String(r.name), createdAt: String(r.created_at) });
const toBuild = (r: Row): BuildRecord => ({
  id: String(r.id),
  app: String(r.app),
  commit: String(r.commit_sha),
  status: r.status as BuildStatus,
  errorCode: (r.error_code as ErrorCode | null) ?? null,
  errorMessage: (r.error_message as string | null) ?? null,
  buildpacks: JSON.parse(String(r.buildpacks)) as string[],
  phases: JSON.parse(String(r.phases)) as BuildRecord["phases"],
  slugId: (r.slug_id as string | null) ?? null,
  createdAt: String(r.created_at),
  finishedAt: (r.finished_at as string | null) ?? null,
  actor: (r.actor as string | null) ?? null,
  inputsKey: (r.inputs_key as string | null) ?? null,
  node: (r.node as string | null) ?? null,
});
const toSlug = (r: Row): SlugRecord => ({
  id: String(r.id),
  app: String(r.app),
  sizeBytes: Number(r.size_bytes),
  commit: String(r.commit_sha),
  buildpacks: JSON.parse(String(r.buildpacks)) as string[],
  stack: String(r.stack),
  processTypes: JSON.parse(String(r.process_types)) as Record<string, string>,
  createdAt: String(r.created_at),
});
const toRelease = (r: Row): ReleaseRecord => ({
  app: String(r.app),
  version: Number(r.version),
  slugId: (r.slug_id as string | null) ?? null,
  config: JSON.parse(String(r.config)) as Record<string, string>,
  processTypes: JSON.parse(String(r.process_types)) as Record<string, string>,
  description: String(r.description),
  createdAt: String(r.created_at),
  image: r.image_name && r.image_digest ? { name: String(r.image_name), digest: String(r.image_digest) } : null,
  imageError: (r.image_error as string | null) ?? null,
});

async function getApp(sql: Sql, name: string): Promise<AppRecord | undefined> {
  const row = await sql.get("SELECT * FROM apps WHERE name = ?", [name]);
  return row ? toApp(row) : undefined;
}

async function requireApp(sql: Sql, name: string): Promise<AppRecord> {
  const app = await getApp(sql, name);
  if (!app) throw new SlugforgeError("APP_NOT_FOUND", `no app named "${name}"`);
  return app;
}

async function getConfigVars(sql: Sql, app: string): Promise<Record<string, string>> {
  const rows = await sql.all("SELECT key, value FROM config_vars WHERE app = ? ORDER BY key", [app]);
  return Object.fromEntries(rows.map((r) => [String(r.key), String(r.value)]));
}

async function getBuild(sql: Sql, id: string): Promise<BuildRecord | undefined> {
  const row = await sql.get("SELECT * FROM builds WHERE id = ?", [id]);
  return row ? toBuild(row) : undefined;
}

async function getRelease(sql: Sql, app: string, version: number): Promise<ReleaseRecord | undefined> {
  const row = await sql.get("SELECT * FROM releases WHERE app = ? AND version = ?", [app, version]);
  return row ? toRelease(row) : undefined;
}

async function latestRelease(sql: Sql, app: string): Promise<ReleaseRecord | undefined> {
  const row = await sql.get("SELECT * FROM releases WHERE app = ? ORDER BY version DESC LIMIT 1", [app]);
  return row ? toRelease(row) : undefined;
}

async function getSlug(sql: Sql, id: string, app?: string): Promise<SlugRecord | undefined> {
  const row = app === undefined
    ? await sql.get("SELECT * FROM slugs WHERE id = ? ORDER BY created_at LIMIT 1", [id])
    : await sql.get("SELECT * FROM slugs WHERE id = ? AND app = ?", [id, app]);
  return row ? toSlug(row) : undefined;
}

/** `fn` in a transaction that holds the app: the releases it makes are numbered one after another. */
function holdingApp<T>(sql: Sql, app: string, fn: (t: Sql) => Promise<T>): Promise<T> {
  return sql.transaction(async (t) => {
    await t.lockApp(app);
    return fn(t);
  });
}

/** The app's next vN: `t` is a transaction that holds the app (holdingApp). */
async function insertRelease(t: Sql, app: string, r: Omit<ReleaseRecord, "app" | "version" | "createdAt" | "image" | "imageError">): Promise<ReleaseRecord> {
  const version = ((await latestRelease(t, app))?.version ?? 0) + 1;
  const createdAt = now();
  await t.run("INSERT INTO releases (app, version, slug_id, config, process_types, description, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", [
    app, version, r.slugId, json(r.config), json(r.processTypes), r.description, createdAt,
  ]);
  return { app, version, createdAt, ...r, image: null, imageError: null };
}

/**
 * The metadata store on either back-end (SQLite or PostgreSQL: `sql` is one of their adapters, or
 * a transaction's connection). Changes of several statements run in a transaction; a release's
 * number is taken with the app held (Sql.lockApp), so two nodes never give out the same vN.
 */
export function sqlStore(sql: Sql): MetadataTx {
  return {
    async createApp(name) {
      const createdAt = now();
      const made = await sql.run("INSERT INTO apps (name, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING", [name, createdAt]);
      if (made === 0) throw new SlugforgeError("BAD_REQUEST", `an app named "${name}" already exists`);
      return { name, createdAt };
    },
    async ensureApp(name) {
      await sql.run("INSERT INTO apps (name, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING", [name, now()]);
      return requireApp(sql, name);
    },
    getApp: (name) => getApp(sql, name),
    listApps: async () => (await sql.all("SELECT * FROM apps ORDER BY name")).map(toApp),
    deleteApp: async (name) => (await sql.run("DELETE FROM apps WHERE name = ?", [name])) > 0,

    getConfigVars: (app) => getConfigVars(sql, app),
    updateConfigVars(app, changes) {
      return holdingApp(sql, app, async (t) => {
        await requireApp(t, app);
        // Only real changes count: setting a var to its value or removing a missing one makes no release.
        const current = new Map(Object.entries(await getConfigVars(t, app)));
        const changed = Object.entries(changes).filter(([key, value]) => (value === null ? current.has(key) : current.get(key) !== value));
        for (const [key, value] of changed) {
          if (value === null) await t.run("DELETE FROM config_vars WHERE app = ? AND key = ?", [app, key]);
          else await t.run("INSERT INTO config_vars (app, key, value) VALUES (?, ?, ?) ON CONFLICT (app, key) DO UPDATE SET value = excluded.value", [app, key, value]);
        }
        const config = await getConfigVars(t, app);
        const previous = await latestRelease(t, app);
        if (changed.length === 0 || !previous?.slugId) return { config };
        const set = changed.filter(([, value]) => value !== null).map(([key]) => key);
        const unset = changed.filter(([, value]) => value === null).map(([key]) => key);
        const description = [set.length ? `Set ${set.join(", ")} config vars` : "", unset.length ? `Remove ${unset.join(", ")} config vars` : ""]
          .filter(Boolean)
          .join("; ");
        const release = await insertRelease(t, app, { slugId: previous.slugId, config, processTypes: previous.processTypes, description });
        return { config, release };
      });
    },

    async createBuild({ id, app, commit, actor, node }) {
      await sql.run("INSERT INTO builds (id, app, commit_sha, status, created_at, actor, node) VALUES (?, ?, ?, 'queued', ?, ?, ?)", [id, app, commit, now(), actor ?? null, node ?? null]);
      return (await getBuild(sql, id))!;
    },
    async updateBuild(id, update: BuildUpdate) {
      const sets: string[] = [];
      const values: unknown[] = [];
      const put = (column: string, value: unknown): void => {
        sets.push(`${column} = ?`);
        values.push(value);
      };
      if (update.status !== undefined) {
        put("status", update.status);
        if (isFinishedBuild(update.status)) put("finished_at", now());
      }
      if (update.errorCode !== undefined) put("error_code", update.errorCode);
      if (update.errorMessage !== undefined) put("error_message", update.errorMessage);
      if (update.buildpacks !== undefined) put("buildpacks", json(update.buildpacks));
      if (update.phases !== undefined) put("phases", json(update.phases));
      if (update.slugId !== undefined) put("slug_id", update.slugId);
      if (update.inputsKey !== undefined) put("inputs_key", update.inputsKey);
      if (sets.length) await sql.run(`UPDATE builds SET ${sets.join(", ")} WHERE id = ?`, [...values, id]);
      const build = await getBuild(sql, id);
      if (!build) throw new SlugforgeError("INTERNAL", `build ${id} vanished`);
      return build;
    },
    getBuild: (id) => getBuild(sql, id),
    listBuilds: async (app) => (await sql.all("SELECT * FROM builds WHERE app = ? ORDER BY created_at DESC, rowid DESC", [app])).map(toBuild),
    async appendBuildOutput(id, chunk) {
      await sql.run("INSERT INTO build_output (build_id, seq, chunk) VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM build_output WHERE build_id = ?), ?)", [id, id, chunk]);
    },
    async readBuildOutput(id, afterSeq = 0) {
      const rows = await sql.all("SELECT seq, chunk FROM build_output WHERE build_id = ? AND seq > ? ORDER BY seq", [id, afterSeq]);
      return rows.map((r) => ({ seq: Number(r.seq), chunk: r.chunk as Buffer }));
    },

    async putSlug(slug) {
      await sql.run("INSERT INTO slugs (id, app, size_bytes, commit_sha, buildpacks, stack, process_types, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", [
        slug.id, slug.app, slug.sizeBytes, slug.commit, json(slug.buildpacks), slug.stack, json(slug.processTypes), slug.createdAt,
      ]);
    },
    async findBuildWithInputs(app, inputsKey) {
      const row = await sql.get(
        "SELECT b.* FROM builds b JOIN slugs s ON s.app = b.app AND s.id = b.slug_id WHERE b.app = ? AND b.inputs_key = ? AND b.status = 'succeeded' ORDER BY b.created_at DESC, b.rowid DESC LIMIT 1",
        [app, inputsKey],
      );
      const build = row ? toBuild(row) : undefined;
      const slug = build?.slugId ? await getSlug(sql, build.slugId, app) : undefined;
      return build && slug ? { build, slug } : undefined;
    },
    getSlug: (id, app) => getSlug(sql, id, app),
    listSlugs: async (app) => (await sql.all("SELECT * FROM slugs WHERE app = ? ORDER BY created_at DESC", [app])).map(toSlug),

    createDeployRelease(app, slugId, processTypes, description) {
      return holdingApp(sql, app, async (t) => insertRelease(t, app, { slugId, config: await getConfigVars(t, app), processTypes, description }));
    },
    rollback(app, version) {
      return holdingApp(sql, app, async (t) => {
        await requireApp(t, app);
        const target = await getRelease(t, app, version);
        if (!target) throw new SlugforgeError("BAD_REQUEST", `${app} has no release v${version}; \`slugforge releases ${app}\` lists them`);
        // A rollback restores the old release's config too, as Heroku does.
        await t.run("DELETE FROM config_vars WHERE app = ?", [app]);
        for (const [k, v] of Object.entries(target.config)) await t.run("INSERT INTO config_vars (app, key, value) VALUES (?, ?, ?)", [app, k, v]);
        return insertRelease(t, app, { slugId: target.slugId, config: target.config, processTypes: target.processTypes, description: `Rollback to v${version}` });
      });
    },
    listReleases: async (app) => (await sql.all("SELECT * FROM releases WHERE app = ? ORDER BY version DESC", [app])).map(toRelease),
    getRelease: (app, version) => getRelease(sql, app, version),
    async setReleaseImage(app, version, outcome) {
      if ("image" in outcome) {
        await sql.run("UPDATE releases SET image_name = ?, image_digest = ?, image_error = NULL WHERE app = ? AND version = ?", [outcome.image.name, outcome.image.digest, app, version]);
      } else {
        await sql.run("UPDATE releases SET image_error = ? WHERE app = ? AND version = ?", [outcome.error, app, version]);
      }
      return getRelease(sql, app, version);
    },
    listReleasesAwaitingImage: async () =>
      (await sql.all("SELECT * FROM releases WHERE image_error IS NOT NULL AND image_digest IS NULL ORDER BY created_at, app, version")).map(toRelease),
    async stats() {
      const byStatus = await sql.all("SELECT status, COUNT(*) AS n FROM builds GROUP BY status");
      const finished = await sql.all("SELECT created_at, finished_at FROM builds WHERE finished_at IS NOT NULL");
      const bytes = await sql.get("SELECT COALESCE(SUM(size_bytes), 0) AS b FROM (SELECT DISTINCT id, size_bytes FROM slugs) AS distinct_slugs");
      return {
        buildsByStatus: Object.fromEntries(byStatus.map((r) => [String(r.status), Number(r.n)])),
        buildDurationsS: finished.map((r) => (Date.parse(String(r.finished_at)) - Date.parse(String(r.created_at))) / 1000),
        slugBytes: Number(bytes?.b ?? 0),
      };
    },
    transaction: (fn) => sql.transaction((t) => fn(sqlStore(t))),
    ...sqlTokens(sql, now),
    ...sqlActivity(sql, now, sqlStore),
    ...sqlWebhooks(sql, now),
    ...sqlNodes(sql, now),
  };
}
