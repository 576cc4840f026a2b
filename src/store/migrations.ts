/**
 * Schema migrations, applied in order inside one transaction each; never edit a shipped one. Each
 * step is written for both back-ends: the same tables, columns, keys and rules, in each one's SQL.
 *
 * PostgreSQL's differences: text compares byte by byte (COLLATE "C", as SQLite's BINARY does), so
 * ISO times and names sort alike on both whatever the database's locale; BYTEA for BLOB, BIGINT for
 * sizes; an identity column named `rowid` where SQLite's own rowid orders rows inserted in the same
 * millisecond (the queries name it on both).
 */
export interface Migration {
  readonly sqlite: string;
  readonly postgres: string;
}

/** PostgreSQL's text column. */
const TEXT = 'TEXT COLLATE "C"';

export const MIGRATIONS: readonly Migration[] = [
  {
    sqlite: `
  CREATE TABLE apps (
    name TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
  );
  CREATE TABLE config_vars (
    app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (app, key)
  );
  CREATE TABLE builds (
    id TEXT PRIMARY KEY,
    app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
    commit_sha TEXT NOT NULL,
    status TEXT NOT NULL,
    error_code TEXT,
    error_message TEXT,
    buildpacks TEXT NOT NULL DEFAULT '[]',
    phases TEXT NOT NULL DEFAULT '[]',
    slug_id TEXT,
    created_at TEXT NOT NULL,
    finished_at TEXT
  );
  CREATE INDEX builds_app ON builds(app, created_at);
  CREATE TABLE build_output (
    build_id TEXT NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    chunk BLOB NOT NULL,
    PRIMARY KEY (build_id, seq)
  );
  CREATE TABLE slugs (
    id TEXT NOT NULL,
    app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
    size_bytes INTEGER NOT NULL,
    commit_sha TEXT NOT NULL,
    buildpacks TEXT NOT NULL,
    stack TEXT NOT NULL,
    process_types TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (app, id)
  );
  CREATE TABLE releases (
    app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    slug_id TEXT,
    config TEXT NOT NULL,
    process_types TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (app, version)
  );
  `,
    postgres: `
  CREATE TABLE apps (
    name ${TEXT} PRIMARY KEY,
    created_at ${TEXT} NOT NULL
  );
  CREATE TABLE config_vars (
    app ${TEXT} NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
    key ${TEXT} NOT NULL,
    value ${TEXT} NOT NULL,
    PRIMARY KEY (app, key)
  );
  CREATE TABLE builds (
    id ${TEXT} PRIMARY KEY,
    app ${TEXT} NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
    commit_sha ${TEXT} NOT NULL,
    status ${TEXT} NOT NULL,
    error_code ${TEXT},
    error_message ${TEXT},
    buildpacks ${TEXT} NOT NULL DEFAULT '[]',
    phases ${TEXT} NOT NULL DEFAULT '[]',
    slug_id ${TEXT},
    created_at ${TEXT} NOT NULL,
    finished_at ${TEXT},
    rowid BIGINT GENERATED ALWAYS AS IDENTITY
  );
  CREATE INDEX builds_app ON builds(app, created_at);
  CREATE TABLE build_output (
    build_id ${TEXT} NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    chunk BYTEA NOT NULL,
    PRIMARY KEY (build_id, seq)
  );
  CREATE TABLE slugs (
    id ${TEXT} NOT NULL,
    app ${TEXT} NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
    size_bytes BIGINT NOT NULL,
    commit_sha ${TEXT} NOT NULL,
    buildpacks ${TEXT} NOT NULL,
    stack ${TEXT} NOT NULL,
    process_types ${TEXT} NOT NULL,
    created_at ${TEXT} NOT NULL,
    PRIMARY KEY (app, id)
  );
  CREATE TABLE releases (
    app ${TEXT} NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    slug_id ${TEXT},
    config ${TEXT} NOT NULL,
    process_types ${TEXT} NOT NULL,
    description ${TEXT} NOT NULL,
    created_at ${TEXT} NOT NULL,
    PRIMARY KEY (app, version)
  );
  `,
  },
  // 2: scoped tokens (they go with their app) and the activity log (it stays: no foreign key).
  {
    sqlite: `
  CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
    scope TEXT NOT NULL CHECK (scope IN ('deploy', 'read')),
    secret_sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at TEXT
  );
  CREATE INDEX tokens_app ON tokens(app);
  CREATE TABLE activity (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL,
    at TEXT NOT NULL
  );
  CREATE INDEX activity_app ON activity(app, id);
  ALTER TABLE builds ADD COLUMN actor TEXT;
  `,
    postgres: `
  CREATE TABLE tokens (
    id ${TEXT} PRIMARY KEY,
    app ${TEXT} NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
    scope ${TEXT} NOT NULL CHECK (scope IN ('deploy', 'read')),
    secret_sha256 ${TEXT} NOT NULL,
    created_at ${TEXT} NOT NULL,
    last_used_at ${TEXT},
    revoked_at ${TEXT},
    rowid BIGINT GENERATED ALWAYS AS IDENTITY
  );
  CREATE INDEX tokens_app ON tokens(app);
  CREATE TABLE activity (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app ${TEXT} NOT NULL,
    actor ${TEXT} NOT NULL,
    action ${TEXT} NOT NULL,
    detail ${TEXT} NOT NULL,
    at ${TEXT} NOT NULL
  );
  CREATE INDEX activity_app ON activity(app, id);
  ALTER TABLE builds ADD COLUMN actor ${TEXT};
  `,
  },
  // 3: a build's inputs (tree, buildpacks, stack images, config) as one key, so a push whose
  // inputs an earlier build had can reuse that build's slug.
  {
    sqlite: `
  ALTER TABLE builds ADD COLUMN inputs_key TEXT;
  CREATE INDEX builds_inputs ON builds(app, inputs_key);
  `,
    postgres: `
  ALTER TABLE builds ADD COLUMN inputs_key ${TEXT};
  CREATE INDEX builds_inputs ON builds(app, inputs_key);
  `,
  },
  // 4: release and build webhooks. The secret is kept as given (signing needs it). A webhook goes
  // with its app, its deliveries with their webhook, their attempts with their delivery.
  {
    sqlite: `
  CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    events TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE INDEX webhooks_app ON webhooks(app);
  CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    app TEXT NOT NULL,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_status_code INTEGER,
    last_duration_ms INTEGER,
    last_error TEXT,
    next_try_at TEXT,
    created_at TEXT NOT NULL
  );
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries(state, next_try_at);
  CREATE INDEX webhook_deliveries_app ON webhook_deliveries(app, created_at);
  CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    at TEXT NOT NULL,
    status_code INTEGER,
    duration_ms INTEGER NOT NULL,
    error TEXT,
    PRIMARY KEY (delivery_id, n)
  );
  `,
    postgres: `
  CREATE TABLE webhooks (
    id ${TEXT} PRIMARY KEY,
    app ${TEXT} NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
    url ${TEXT} NOT NULL,
    secret ${TEXT} NOT NULL,
    events ${TEXT} NOT NULL,
    created_at ${TEXT} NOT NULL,
    rowid BIGINT GENERATED ALWAYS AS IDENTITY
  );
  CREATE INDEX webhooks_app ON webhooks(app);
  CREATE TABLE webhook_deliveries (
    id ${TEXT} PRIMARY KEY,
    webhook_id ${TEXT} NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    app ${TEXT} NOT NULL,
    event ${TEXT} NOT NULL,
    payload ${TEXT} NOT NULL,
    state ${TEXT} NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_status_code INTEGER,
    last_duration_ms INTEGER,
    last_error ${TEXT},
    next_try_at ${TEXT},
    created_at ${TEXT} NOT NULL,
    rowid BIGINT GENERATED ALWAYS AS IDENTITY
  );
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries(state, next_try_at);
  CREATE INDEX webhook_deliveries_app ON webhook_deliveries(app, created_at);
  CREATE TABLE webhook_attempts (
    delivery_id ${TEXT} NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    at ${TEXT} NOT NULL,
    status_code INTEGER,
    duration_ms INTEGER NOT NULL,
    error ${TEXT},
    PRIMARY KEY (delivery_id, n)
  );
  `,
  },
  // 5: each release's OCI image (src/images): its name and digest once made, and why the last
  // attempt failed while it is being retried.
  {
    sqlite: `
  ALTER TABLE releases ADD COLUMN image_name TEXT;
  ALTER TABLE releases ADD COLUMN image_digest TEXT;
  ALTER TABLE releases ADD COLUMN image_error TEXT;
  `,
    postgres: `
  ALTER TABLE releases ADD COLUMN image_name ${TEXT};
  ALTER TABLE releases ADD COLUMN image_digest ${TEXT};
  ALTER TABLE releases ADD COLUMN image_error ${TEXT};
  `,
  },
  // 6: several nodes over one store: the node each build ran on, and each node's last sign of life
  // (a node that stops answering leaves its builds to be marked INTERRUPTED by another).
  {
    sqlite: `
  ALTER TABLE builds ADD COLUMN node TEXT;
  CREATE TABLE nodes (
    id TEXT PRIMARY KEY,
    instance TEXT NOT NULL,
    started_at TEXT NOT NULL,
    seen_at TEXT,
    stopped_at TEXT
  );
  `,
    postgres: `
  ALTER TABLE builds ADD COLUMN node ${TEXT};
  CREATE TABLE nodes (
    id ${TEXT} PRIMARY KEY,
    instance ${TEXT} NOT NULL,
    started_at ${TEXT} NOT NULL,
    seen_at ${TEXT},
    stopped_at ${TEXT}
  );
  `,
  },
  // 7: the builds that run or wait, found without reading every build (the INTERRUPTED sweep, and
  // background work that waits while any node builds).
  {
    sqlite: `
  CREATE INDEX builds_active ON builds(status) WHERE status IN ('queued', 'building');
  `,
    postgres: `
  CREATE INDEX builds_active ON builds(status) WHERE status IN ('queued', 'building');
  `,
  },
];
