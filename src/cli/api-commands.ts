import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ApiClient } from "./api-client.js";
import { formatBytes, relativeTime, shortSlugId } from "./format.js";
import { formatHowToRun, howToRun } from "./how-to-run.js";
import { paintStatus, type Style } from "./style.js";
import { formatPairs, formatTable, keyColumn, type Column } from "./table.js";

export interface CommandIO {
  readonly out: (text: string) => void;
  readonly raw: NodeJS.WritableStream;
  readonly json: boolean;
  /** Colours for stdout: none when it is not a terminal, with NO_COLOR, or with --json. */
  readonly style: Style;
  /** Values of the command's own options (`--name VALUE` or `--name=VALUE`), by name without dashes. */
  readonly flags: Readonly<Record<string, string>>;
}

interface CommandSpec {
  readonly usage: string;
  readonly summary: string;
  /** Positional arguments it needs at the least. */
  readonly min: number;
  /** Options that take a value, by name without dashes. */
  readonly flags?: readonly string[];
  readonly run: (api: ApiClient, args: string[], io: CommandIO) => Promise<number>;
}

type Row = Record<string, unknown>;

/** Rows as the API sent them for --json, as a table otherwise; a column named by a key shows that key's value. */
const list = (rows: Row[], columns: (string | Column<Row>)[], io: CommandIO, empty: string): number => {
  if (io.json) io.out(JSON.stringify(rows, null, 2));
  else if (rows.length === 0) io.out(empty);
  else io.out(formatTable(rows, columns.map((c) => (typeof c === "string" ? keyColumn<Row>(c) : c)), io.style));
  return 0;
};
const col = (header: string, value: (row: Row) => string, paint?: Column<Row>["paint"]): Column<Row> => ({ header, value, paint });
const text = (key: string) => (row: Row) => (row[key] === null || row[key] === undefined ? "" : String(row[key]));
const ago = (key: string) => (row: Row) => relativeTime(row[key] as string | null);
const show = (value: unknown, io: CommandIO, text: string): number => {
  io.out(io.json ? JSON.stringify(value, null, 2) : text);
  return 0;
};
/** A release's image for the listing: its name and short digest, that it is being retried, or nothing. */
const imageCell = (r: Row): string => {
  const image = r.image as { name: string; digest: string } | null | undefined;
  if (image) return `${image.name} ${image.digest.slice(0, 19)}`;
  return r.imageError ? "(retrying)" : "";
};
const short = (id: unknown): string => String(id ?? "").replace(/^sha256:/, "").slice(0, 12);
const app = (name: string): string => `/api/apps/${encodeURIComponent(name)}`;

/** The commands that talk to a running server, by name. */
export const API_COMMANDS: Readonly<Record<string, CommandSpec>> = {
  apps: {
    usage: "apps [--json]",
    summary: "list apps",
    min: 0,
    run: async (api, _args, io) => list(await api.get<Row[]>("/api/apps"), [col("Name", text("name")), col("Created", ago("createdAt"))], io, "no apps yet; a first git push creates one"),
  },
  "apps:create": {
    usage: "apps:create NAME [--json]",
    summary: "create an app",
    min: 1,
    run: async (api, [name], io) => {
      const created = await api.send<Row>("POST", "/api/apps", { name });
      return show(created, io, `created ${name}; push to it with: git remote add paas <server>/${name}.git`);
    },
  },
  "apps:destroy": {
    usage: "apps:destroy NAME --confirm NAME [--json]",
    summary: "delete an app: its records, builds, releases, git repo and build caches (slugs other apps share stay)",
    min: 1,
    flags: ["confirm"],
    run: async (api, [name], io) => {
      if (io.flags.confirm !== name) {
        throw new UsageError(`this deletes ${name} for good (its git repo, builds, releases and caches); to go on, repeat its name: --confirm ${name}`);
      }
      const deleted = await api.send<Row>("DELETE", app(name!));
      return show(deleted, io, `deleted ${name}`);
    },
  },
  config: {
    usage: "config APP [--json]",
    summary: "show config vars",
    min: 1,
    run: async (api, [name], io) => {
      const vars = await api.get<Record<string, string>>(`${app(name!)}/config-vars`);
      const pairs = Object.entries(vars);
      return show(vars, io, pairs.length ? formatPairs(`${name} Config Vars`, pairs, io.style) : `${name} has no config vars`);
    },
  },
  "config:set": {
    usage: "config:set APP KEY=VALUE... [--json]",
    summary: "set config vars (makes a release when the app has one)",
    min: 2,
    run: async (api, [name, ...pairs], io) => {
      const changes: Record<string, string> = {};
      for (const pair of pairs) {
        const eq = pair.indexOf("=");
        if (eq < 1) throw new UsageError(`"${pair}" is not KEY=VALUE`);
        changes[pair.slice(0, eq)] = pair.slice(eq + 1);
      }
      const result = await api.send<{ release: Row | null }>("PATCH", `${app(name!)}/config-vars`, changes);
      const rel = result.release ? ` (release v${String(result.release.version)})` : "";
      return show(result, io, `set ${Object.keys(changes).join(", ")} on ${name}${rel}`);
    },
  },
  "config:unset": {
    usage: "config:unset APP KEY... [--json]",
    summary: "remove config vars",
    min: 2,
    run: async (api, [name, ...keys], io) => {
      const result = await api.send<{ release: Row | null }>("PATCH", `${app(name!)}/config-vars`, Object.fromEntries(keys.map((k) => [k, null])));
      const rel = result.release ? ` (release v${String(result.release.version)})` : "";
      return show(result, io, `removed ${keys.join(", ")} from ${name}${rel}`);
    },
  },
  builds: {
    usage: "builds APP [--json]",
    summary: "list an app's builds",
    min: 1,
    run: async (api, [name], io) => {
      const rows = (await api.get<Row[]>(`${app(name!)}/builds`)).map((b) => ({ ...b, commit: String(b.commit).slice(0, 7), error: b.errorCode ?? "" }));
      const columns = [
        col("Build", text("id")),
        col("Status", text("status"), paintStatus),
        col("Commit", text("commit")),
        col("By", text("actor")),
        col("Node", text("node")),
        col("Created", ago("createdAt")),
        col("Error", text("error"), (t, style) => style.red(t)),
      ];
      return list(rows, columns, io, `${name} has no builds`);
    },
  },
  "builds:output": {
    usage: "builds:output BUILD_ID",
    summary: "print a build's output (follows a running build)",
    min: 1,
    run: async (api, [id], io) => {
      const { body } = await api.stream(`/api/builds/${encodeURIComponent(id!)}/output`);
      await pipeline(body, io.raw as NodeJS.WritableStream, { end: false });
      return 0;
    },
  },
  slugs: {
    usage: "slugs APP [--json]",
    summary: "list an app's slugs",
    min: 1,
    run: async (api, [name], io) => {
      const rows = (await api.get<Row[]>(`${app(name!)}/slugs`)).map((s) => ({ ...s, short: short(s.id), commit: String(s.commit).slice(0, 7), size: s.sizeBytes }));
      const columns = [
        col("Slug", (s) => shortSlugId(s.id)),
        col("Size", (s) => formatBytes(Number(s.sizeBytes))),
        col("Commit", text("commit")),
        col("Stack", text("stack")),
        col("Created", ago("createdAt")),
      ];
      return list(rows, columns, io, `${name} has no slugs`);
    },
  },
  "slugs:download": {
    usage: "slugs:download SLUG_ID [FILE]",
    summary: "download a slug and verify its sha256",
    min: 1,
    run: async (api, [id, file], io) => {
      const target = file ?? `${short(id)}.tar.gz`;
      const expected = id!.replace(/^sha256:/, "");
      const { body } = await api.stream(`/api/slugs/${encodeURIComponent(id!)}/blob`);
      const hash = createHash("sha256");
      const tmp = `${target}.part`;
      const hasher = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          hash.update(chunk);
          cb(null, chunk);
        },
      });
      try {
        await pipeline(body, hasher, createWriteStream(tmp));
        const actual = hash.digest("hex");
        if (actual !== expected) throw new Error(`the download's sha256 is ${actual}, not ${expected}: not kept; try again`);
        await rename(tmp, target);
      } finally {
        await rm(tmp, { force: true });
      }
      return show({ id, file: target }, io, `downloaded ${id} to ${target} (sha256 verified)`);
    },
  },
  releases: {
    usage: "releases APP [--json]",
    summary: "list an app's releases, with each one's image",
    min: 1,
    run: async (api, [name], io) => {
      const rows = (await api.get<Row[]>(`${app(name!)}/releases`)).map((r) => ({ ...r, release: `v${String(r.version)}`, slug: short(r.slugId) }));
      const columns = [col("Release", text("release")), col("Description", text("description")), col("Slug", (r) => shortSlugId(r.slugId)), col("Image", imageCell), col("Created", ago("createdAt"))];
      return list(rows, columns, io, `${name} has no releases`);
    },
  },
  "releases:image": {
    usage: "releases:image APP vN [--json]",
    summary: "make a release's image now (push it to the registry again, or load it into the engine)",
    min: 2,
    run: async (api, [name, version], io) => {
      if (!/^v?[1-9][0-9]*$/.test(version!)) throw new UsageError(`"${version}" is not a release: name it as v3 (or 3)`);
      const { status, body } = await api.sendWithStatus<Row>("POST", `${app(name!)}/releases/${encodeURIComponent(version!)}/image`);
      const image = body.image as { name: string; digest: string } | null;
      const text =
        status === 202 || !image
          ? `the image of ${name} v${String(body.version)} is still being made; it carries on in the background (\`slugforge releases ${name}\` shows it when done)`
          : `${image.name} ${image.digest}`;
      return show(body, io, text);
    },
  },
  rollback: {
    usage: "rollback APP vN [--json]",
    summary: "make a new release from an older one's slug and config",
    min: 2,
    run: async (api, [name, version], io) => {
      const release = await api.send<Row>("POST", `${app(name!)}/releases`, { release: version });
      return show(release, io, `rolled back ${name} to ${version}: now v${String(release.version)}`);
    },
  },
  open: {
    usage: "open APP [--json]",
    summary: "how to run the app's current release: its slug, its image when it has one, the commands",
    min: 1,
    run: async (api, [name], io) => {
      const releases = await api.get<Row[]>(`${app(name!)}/releases`);
      const current = releases.reduce<Row | undefined>((a, r) => (a && Number(a.version) > Number(r.version) ? a : r), undefined);
      if (!current) throw new CommandError(`${name} has no release yet: push to it first`);
      const run = howToRun(name!, current);
      return show(run, io, formatHowToRun(run, io.style));
    },
  },
  activity: {
    usage: "activity APP [--json]",
    summary: "list an app's changes and who made each (admin or a token id)",
    min: 1,
    run: async (api, [name], io) => {
      const columns = [col("When", ago("at")), col("By", text("actor")), col("Action", text("action")), col("Detail", text("detail"))];
      return list(await api.get<Row[]>(`${app(name!)}/activity`), columns, io, `${name} has no activity`);
    },
  },
  engines: {
    usage: "engines [--json]",
    summary: "list the build engines (SLUGFORGE_BUILD_ENGINES): up or down, builds running, last error",
    min: 0,
    run: async (api, _args, io) => {
      const rows = await api.get<Row[]>("/api/engines");
      const columns = [
        col("Engine", (e) => `${String(e.url)}${e.primary ? " (primary)" : ""}`),
        col("State", text("state"), (t, style) => (t === "up" ? style.green(t) : t === "down" ? style.red(t) : t)),
        col("Running", text("running")),
        col("Since", ago("since")),
        col("Last error", text("lastError"), (t, style) => style.red(t)),
      ];
      return list(rows, columns, io, "no build engines");
    },
  },
  tokens: {
    usage: "tokens [--app NAME] [--json]",
    summary: "list scoped API tokens, revoked ones too (never their secrets)",
    min: 0,
    flags: ["app"],
    run: async (api, _args, io) => {
      const tokens = await api.get<Row[]>(`/api/tokens${io.flags.app ? `?app=${encodeURIComponent(io.flags.app)}` : ""}`);
      const columns = [
        col("Token", text("id")),
        col("App", text("app")),
        col("Scope", text("scope")),
        col("Created", ago("createdAt")),
        col("Last used", (t) => (t.lastUsedAt ? relativeTime(t.lastUsedAt as string) : "never")),
        col("Revoked", ago("revokedAt"), (t, style) => style.red(t)),
      ];
      return list(tokens, columns, io, "no tokens; make one with tokens:create --app NAME --scope deploy|read");
    },
  },
  "tokens:create": {
    usage: "tokens:create --app NAME --scope deploy|read [--json]",
    summary: "make a token for one app: deploy (push, roll back, read) or read; shown once",
    min: 0,
    flags: ["app", "scope"],
    run: async (api, _args, io) => {
      if (!io.flags.app || !io.flags.scope) throw new UsageError("name the app and the scope: --app NAME --scope deploy|read");
      const made = await api.send<Row>("POST", "/api/tokens", { app: io.flags.app, scope: io.flags.scope });
      const text = [
        `${String(made.scope)} token ${String(made.id)} for ${String(made.app)}; it is shown only this once:`,
        "",
        `    ${String(made.token)}`,
        "",
        `Use it as SLUGFORGE_TOKEN, or as the git password: http://git:<token>@<server>/${String(made.app)}.git`,
      ].join("\n");
      return show(made, io, text);
    },
  },
  "tokens:revoke": {
    usage: "tokens:revoke ID [--json]",
    summary: "revoke a token for good (git and the API refuse it from then on)",
    min: 1,
    run: async (api, [id], io) => {
      const revoked = await api.send<Row>("DELETE", `/api/tokens/${encodeURIComponent(id!)}`);
      return show(revoked, io, `revoked ${String(revoked.scope)} token ${id} for ${String(revoked.app)}`);
    },
  },
  webhooks: {
    usage: "webhooks APP [--json]",
    summary: "list an app's webhooks (never their secrets)",
    min: 1,
    run: async (api, [name], io) => {
      const hooks = await api.get<Row[]>(`${app(name!)}/webhooks`);
      if (io.json) return show(hooks, io, "");
      const rows = hooks.map((w) => ({ ...w, events: (w.events as string[]).join(",") }));
      return list(rows, ["id", "url", "events", "createdAt"], io, `${name} has no webhooks; add one with webhooks:add ${name} URL`);
    },
  },
  "webhooks:add": {
    usage: "webhooks:add APP URL [--secret S] [--events release,build] [--json]",
    summary: "POST each release and finished build of the app to URL, signed (a secret is made and shown once unless given)",
    min: 2,
    flags: ["secret", "events"],
    run: async (api, [name, url], io) => {
      const events = io.flags.events?.split(",").map((e) => e.trim()).filter(Boolean);
      const made = await api.send<Row>("POST", `${app(name!)}/webhooks`, { url, secret: io.flags.secret, events });
      const text = [
        `webhook ${String(made.id)} of ${name}: ${(made.events as string[]).join(" and ")} events to ${String(made.url)}`,
        ...(io.flags.secret !== undefined
          ? ["Deliveries are signed with the secret you gave."]
          : ["Deliveries are signed with this secret; it is shown only this once:", "", `    ${String(made.secret)}`, ""]),
        "Each POST carries X-Slugforge-Delivery and X-Slugforge-Signature: sha256=<HMAC-SHA256 of the body with the secret>.",
      ].join("\n");
      return show(made, io, text);
    },
  },
  "webhooks:remove": {
    usage: "webhooks:remove APP ID [--json]",
    summary: "remove a webhook with its deliveries (pending ones are not sent)",
    min: 2,
    run: async (api, [name, id], io) => {
      const removed = await api.send<Row>("DELETE", `${app(name!)}/webhooks/${encodeURIComponent(id!)}`);
      return show(removed, io, `removed webhook ${id} of ${name} (${String(removed.url)})`);
    },
  },
  "webhooks:deliveries": {
    usage: "webhooks:deliveries APP [--webhook ID] [--json]",
    summary: "list an app's webhook deliveries, newest first: state, attempts, last status or error, next try",
    min: 1,
    flags: ["webhook"],
    run: async (api, [name], io) => {
      const query = io.flags.webhook ? `?webhook=${encodeURIComponent(io.flags.webhook)}` : "";
      const deliveries = await api.get<Row[]>(`${app(name!)}/webhook-deliveries${query}`);
      if (io.json) return show(deliveries, io, "");
      const rows = deliveries.map((d) => ({ ...d, webhook: d.webhookId, status: d.lastStatusCode ?? "", error: d.lastError ?? "", next: d.nextTryAt ?? "" }));
      return list(rows, ["id", "webhook", "event", "state", "attempts", "status", "error", "next", "createdAt"], io, `${name} has no webhook deliveries`);
    },
  },
};

export class UsageError extends Error {}

/** The command could not do what was asked, for a reason the server did not report (exit 1). */
export class CommandError extends Error {}
