import { chmodSync, closeSync, openSync } from "node:fs";
import Database from "better-sqlite3";
import { SlugforgeError, type ErrorCode } from "../errors.js";
import { isFinishedBuild, type BuildStatus } from "../build-status.js";
import { MIGRATIONS } from "./migrations.js";
import { sqliteActivity } from "./sqlite-activity.js";
import { sqliteNodes } from "./sqlite-nodes.js";
import { sqliteTokens } from "./sqlite-tokens.js";
import { sqliteWebhooks } from "./sqlite-webhooks.js";
import type { AppRecord, BuildRecord, BuildUpdate, MetadataStore, ReleaseRecord, SlugRecord } from "./types.js";

type Row = Record<string, unknown>;

/** The embedded metadata store: SQLite in the data folder (WAL, foreign keys, one transaction per change). */
export function openSqliteStore(file: string): MetadataStore {
  makePrivate(file);
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  makePrivate(file);
  db.pragma("synchronous = NORMAL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  migrate(db);

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

  const getApp = (name: string): AppRecord | undefined => {
    const row = db.prepare("SELECT * FROM apps WHERE name = ?").get(name) as Row | undefined;
    return row ? toApp(row) : undefined;
  };
  const requireApp = (name: string): AppRecord => {
    const app = getApp(name);
    if (!app) throw new SlugforgeError("APP_NOT_FOUND", `no app named "${name}"`);
    return app;
  };
  const getConfigVars = (app: string): Record<string, string> => {
    const rows = db.prepare("SELECT key, value FROM config_vars WHERE app = ? ORDER BY key").all(app) as Row[];
    return Object.fromEntries(rows.map((r) => [String(r.key), String(r.value)]));
  };
  const getBuild = (id: string): BuildRecord | undefined => {
    const row = db.prepare("SELECT * FROM builds WHERE id = ?").get(id) as Row | undefined;
    return row ? toBuild(row) : undefined;
  };
  const latestRelease = (app: string): ReleaseRecord | undefined => {
    const row = db.prepare("SELECT * FROM releases WHERE app = ? ORDER BY version DESC LIMIT 1").get(app) as Row | undefined;
    return row ? toRelease(row) : undefined;
  };
  const insertRelease = (app: string, r: Omit<ReleaseRecord, "app" | "version" | "createdAt" | "image" | "imageError">): ReleaseRecord => {
    const version = (latestRelease(app)?.version ?? 0) + 1;
    const createdAt = now();
    db.prepare("INSERT INTO releases (app, version, slug_id, config, process_types, description, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
      .run(app, version, r.slugId, json(r.config), json(r.processTypes), r.description, createdAt);
    return { app, version, createdAt, ...r, image: null, imageError: null };
  };
  const getRelease = (app: string, version: number): ReleaseRecord | undefined => {
    const row = db.prepare("SELECT * FROM releases WHERE app = ? AND version = ?").get(app, version) as Row | undefined;
    return row ? toRelease(row) : undefined;
  };

  return {
    createApp(name) {
      if (getApp(name)) throw new SlugforgeError("BAD_REQUEST", `an app named "${name}" already exists`);
      const createdAt = now();
      db.prepare("INSERT INTO apps (name, created_at) VALUES (?, ?)").run(name, createdAt);
      return { name, createdAt };
    },
    ensureApp(name) {
      db.prepare("INSERT OR IGNORE INTO apps (name, created_at) VALUES (?, ?)").run(name, now());
      return requireApp(name);
    },
    getApp,
    listApps: () => (db.prepare("SELECT * FROM apps ORDER BY name").all() as Row[]).map(toApp),
    deleteApp: (name) => db.prepare("DELETE FROM apps WHERE name = ?").run(name).changes > 0,

    getConfigVars,
    updateConfigVars(app, changes) {
      return db.transaction(() => {
        requireApp(app);
        // Only real changes count: setting a var to its value or removing a missing one makes no release.
        const current = new Map(Object.entries(getConfigVars(app)));
        const changed = Object.entries(changes).filter(([key, value]) => (value === null ? current.has(key) : current.get(key) !== value));
        for (const [key, value] of changed) {
          if (value === null) db.prepare("DELETE FROM config_vars WHERE app = ? AND key = ?").run(app, key);
          else db.prepare("INSERT INTO config_vars (app, key, value) VALUES (?, ?, ?) ON CONFLICT (app, key) DO UPDATE SET value = excluded.value").run(app, key, value);
        }
        const config = getConfigVars(app);
        const previous = latestRelease(app);
        if (changed.length === 0 || !previous?.slugId) return { config };
        const set = changed.filter(([, value]) => value !== null).map(([key]) => key);
        const unset = changed.filter(([, value]) => value === null).map(([key]) => key);
        const description = [set.length ? `Set ${set.join(", ")} config vars` : "", unset.length ? `Remove ${unset.join(", ")} config vars` : ""]
          .filter(Boolean)
          .join("; ");
        const release = insertRelease(app, { slugId: previous.slugId, config, processTypes: previous.processTypes, description });
        return { config, release };
      })();
    },

    createBuild({ id, app, commit, actor, node }) {
      db.prepare("INSERT INTO builds (id, app, commit_sha, status, created_at, actor, node) VALUES (?, ?, ?, 'queued', ?, ?, ?)").run(id, app, commit, now(), actor ?? null, node ?? null);
      return getBuild(id)!;
    },
    updateBuild(id, update: BuildUpdate) {
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
      if (sets.length) db.prepare(`UPDATE builds SET ${sets.join(", ")} WHERE id = ?`).run(...values, id);
      const build = getBuild(id);
      if (!build) throw new SlugforgeError("INTERNAL", `build ${id} vanished`);
      return build;
    },
    getBuild,
    listBuilds: (app) => (db.prepare("SELECT * FROM builds WHERE app = ? ORDER BY created_at DESC, rowid DESC").all(app) as Row[]).map(toBuild),
    appendBuildOutput(id, chunk) {
      db.prepare("INSERT INTO build_output (build_id, seq, chunk) VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM build_output WHERE build_id = ?), ?)").run(id, id, chunk);
    },
    readBuildOutput(id, afterSeq = 0) {
      const rows = db.prepare("SELECT seq, chunk FROM build_output WHERE build_id = ? AND seq > ? ORDER BY seq").all(id, afterSeq) as Row[];
      return rows.map((r) => ({ seq: Number(r.seq), chunk: r.chunk as Buffer }));
    },

    putSlug(slug) {
      db.prepare("INSERT OR IGNORE INTO slugs (id, app, size_bytes, commit_sha, buildpacks, stack, process_types, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        .run(slug.id, slug.app, slug.sizeBytes, slug.commit, json(slug.buildpacks), slug.stack, json(slug.processTypes), slug.createdAt);
    },
    findBuildWithInputs(app, inputsKey) {
      const row = db
        .prepare(
          "SELECT b.id FROM builds b JOIN slugs s ON s.app = b.app AND s.id = b.slug_id WHERE b.app = ? AND b.inputs_key = ? AND b.status = 'succeeded' ORDER BY b.created_at DESC, b.rowid DESC LIMIT 1",
        )
        .get(app, inputsKey) as Row | undefined;
      const build = row ? getBuild(String(row.id)) : undefined;
      const slug = build?.slugId ? (db.prepare("SELECT * FROM slugs WHERE id = ? AND app = ?").get(build.slugId, app) as Row | undefined) : undefined;
      return build && slug ? { build, slug: toSlug(slug) } : undefined;
    },
    getSlug(id, app) {
      const row = (app === undefined
        ? db.prepare("SELECT * FROM slugs WHERE id = ? ORDER BY created_at LIMIT 1").get(id)
        : db.prepare("SELECT * FROM slugs WHERE id = ? AND app = ?").get(id, app)) as Row | undefined;
      return row ? toSlug(row) : undefined;
    },
    listSlugs: (app) => (db.prepare("SELECT * FROM slugs WHERE app = ? ORDER BY created_at DESC").all(app) as Row[]).map(toSlug),

    createDeployRelease(app, slugId, processTypes, description) {
      return db.transaction(() => insertRelease(app, { slugId, config: getConfigVars(app), processTypes, description }))();
    },
    rollback(app, version) {
      return db.transaction(() => {
        requireApp(app);
        const row = db.prepare("SELECT * FROM releases WHERE app = ? AND version = ?").get(app, version) as Row | undefined;
        if (!row) throw new SlugforgeError("BAD_REQUEST", `${app} has no release v${version}; \`slugforge releases ${app}\` lists them`);
        const target = toRelease(row);
        // A rollback restores the old release's config too, as Heroku does.
        db.prepare("DELETE FROM config_vars WHERE app = ?").run(app);
        for (const [k, v] of Object.entries(target.config)) db.prepare("INSERT INTO config_vars (app, key, value) VALUES (?, ?, ?)").run(app, k, v);
        return insertRelease(app, { slugId: target.slugId, config: target.config, processTypes: target.processTypes, description: `Rollback to v${version}` });
      })();
    },
    listReleases: (app) => (db.prepare("SELECT * FROM releases WHERE app = ? ORDER BY version DESC").all(app) as Row[]).map(toRelease),
    getRelease,
    setReleaseImage(app, version, outcome) {
      if ("image" in outcome) {
        db.prepare("UPDATE releases SET image_name = ?, image_digest = ?, image_error = NULL WHERE app = ? AND version = ?").run(outcome.image.name, outcome.image.digest, app, version);
      } else {
        db.prepare("UPDATE releases SET image_error = ? WHERE app = ? AND version = ?").run(outcome.error, app, version);
      }
      return getRelease(app, version);
    },
    listReleasesAwaitingImage: () =>
      (db.prepare("SELECT * FROM releases WHERE image_error IS NOT NULL AND image_digest IS NULL ORDER BY created_at, app, version").all() as Row[]).map(toRelease),
    stats() {
      const byStatus = db.prepare("SELECT status, COUNT(*) AS n FROM builds GROUP BY status").all() as Row[];
      const durations = db
        .prepare("SELECT (julianday(finished_at) - julianday(created_at)) * 86400.0 AS s FROM builds WHERE finished_at IS NOT NULL")
        .all() as Row[];
      const bytes = db.prepare("SELECT COALESCE(SUM(size_bytes), 0) AS b FROM (SELECT DISTINCT id, size_bytes FROM slugs)").get() as Row;
      return {
        buildsByStatus: Object.fromEntries(byStatus.map((r) => [String(r.status), Number(r.n)])),
        buildDurationsS: durations.map((r) => Number(r.s)),
        slugBytes: Number(bytes.b),
      };
    },
    transaction: (fn) => db.transaction(fn)(),
    ...sqliteTokens(db, now),
    ...sqliteActivity(db, now),
    ...sqliteWebhooks(db, now),
    ...sqliteNodes(db, now),
    close: () => db.close(),
  };
}

/**
 * The database holds config var values: 0600, whatever the umask. SQLite gives the -wal and -shm
 * files the database file's mode, so the file is made 0600 before SQLite first opens it; files
 * left by an earlier version with 0644 are changed.
 */
function makePrivate(file: string): void {
  closeSync(openSync(file, "a", 0o600));
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      chmodSync(f, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
}

function migrate(db: Database.Database): void {
  db.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)");
  const applied = new Set((db.prepare("SELECT version FROM schema_migrations").all() as Row[]).map((r) => Number(r.version)));
  MIGRATIONS.forEach((sql, i) => {
    const version = i + 1;
    if (applied.has(version)) return;
    db.transaction(() => {
      db.exec(sql);
      db.prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)").run(version, new Date().toISOString());
    })();
  });
}
