import { describe, expect, it } from "vitest";
import { parseDatabaseUrl, redactDatabaseUrl } from "../../../src/config/database-setting.js";
import { parseConfig } from "../../../src/config/parse-config.js";

describe("SLUGFORGE_DATABASE_URL", () => {
  it("is unset by default: metadata in SQLite in the data folder", () => {
    expect(parseConfig({}).config?.databaseUrl).toBeUndefined();
    expect(parseConfig({ SLUGFORGE_DATABASE_URL: "" }).config?.databaseUrl).toBeUndefined();
  });

  it("takes the URL forms libpq and node-postgres take", () => {
    for (const url of [
      "postgres://slugforge:secret@db.internal:5432/slugforge",
      "postgresql://slugforge@db.internal/slugforge?sslmode=require",
      "postgres://slugforge:p%40ss%2Fword@10.0.0.5/meta",
      "postgres://postgres@/meta?host=/run/postgresql",
      "postgres:///meta?host=/tmp/pg",
      "postgresql://postgres@%2Frun%2Fpostgresql/meta",
      "postgres://u:p@[::1]:5432/db",
      "postgres://db1:5432,db2:5433/meta",
    ]) {
      expect(parseDatabaseUrl(url), url).toEqual({ url });
      expect(parseConfig({ SLUGFORGE_DATABASE_URL: url }).config?.databaseUrl, url).toBe(url);
    }
  });

  it("refuses what is not a PostgreSQL URL, saying what is expected, without showing a password", () => {
    const cases: [string, RegExp][] = [
      ["mysql://root:secret@db/meta", /not a PostgreSQL URL \(its scheme is mysql\)/],
      ["db.internal:5432/meta", /not a PostgreSQL URL|not a URL/],
      ["just words", /not a URL; expected postgres:\/\/user:password@host:5432\/database/],
      ["postgres://u:secret@db:99999/meta", /the port must be a number from 1 to 65535/],
      ["postgres://u:secret@/meta", /names no host; .*\?host=\/socket\/folder/],
      ["postgres://u:se%ZZcret@db/meta", /not percent-encoded properly/],
      ["postgres://u:secret@db:54x2/meta", /is not a host\[:port\]/],
    ];
    for (const [url, message] of cases) {
      const parsed = parseDatabaseUrl(url);
      expect("error" in parsed && parsed.error, url).toMatch(message);
      const { errors } = parseConfig({ SLUGFORGE_DATABASE_URL: url });
      expect(errors?.join("\n"), url).toMatch(/^SLUGFORGE_DATABASE_URL: /);
      expect(errors?.join("\n"), url).not.toContain("secret");
    }
  });

  it("hides the password when the URL is shown", () => {
    expect(redactDatabaseUrl("postgres://slugforge:hunter2@db:5432/meta")).toBe("postgres://slugforge:****@db:5432/meta");
    expect(redactDatabaseUrl("postgres://db/meta?sslmode=require&password=hunter2")).toBe("postgres://db/meta?sslmode=require&password=****");
    expect(redactDatabaseUrl("postgres://slugforge@db/meta")).toBe("postgres://slugforge@db/meta");
  });
});
