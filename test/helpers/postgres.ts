import { execFile } from "node:child_process";
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";

/**
 * A real PostgreSQL for the tests: Debian's `postgresql` package (installed by .ci/run), a cluster
 * of its own in a temp folder, listening on a unix socket there only (no TCP port to collide on).
 * One cluster serves a whole test run: vitest's global setup (postgres-global.ts) names its folder
 * and stops and removes it at the end, whatever happened; the first test that asks starts it, so a
 * run without PostgreSQL tests pays nothing. Each test gets a database of its own.
 */
export interface TestPostgres {
  /** A new empty database; its URL (over the socket, as the superuser). */
  createDatabase(): Promise<string>;
  /** Drops a database made by createDatabase, closing what is still connected to it. */
  dropDatabase(url: string): Promise<void>;
}

/** The run's cluster folder, set by the global setup for the test workers. */
export const RUN_FOLDER_VARIABLE = "SLUGFORGE_TEST_POSTGRES_DIR";
const SUPERUSER = "postgres";

const run = promisify(execFile);
let started: Promise<string> | undefined;
let counter = 0;

export function testPostgres(): Promise<TestPostgres> {
  started ??= startOnce();
  return started.then((socketDir) => {
    const admin = async (sql: string): Promise<void> => {
      const client = new pg.Client({ host: socketDir, user: SUPERUSER, database: "postgres" });
      await client.connect();
      try {
        await client.query(sql);
      } finally {
        await client.end();
      }
    };
    return {
      async createDatabase() {
        const name = `t_${process.pid}_${++counter}`;
        await admin(`CREATE DATABASE ${name}`);
        return `postgres://${SUPERUSER}@/${name}?host=${socketDir}`;
      },
      async dropDatabase(url) {
        const name = new URL(url.replace("@/", "@localhost/")).pathname.slice(1);
        if (!/^t_\d+_\d+$/.test(name)) throw new Error(`not a test database: ${name}`);
        await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      },
    };
  });
}

/**
 * Starts the run's cluster unless another worker has (the first to make `starting` does it; the
 * others wait for `ready`, or `failed` with why). Resolves with the socket folder.
 */
async function startOnce(): Promise<string> {
  const dir = process.env[RUN_FOLDER_VARIABLE];
  if (!dir) throw new Error(`${RUN_FOLDER_VARIABLE} is not set: run the tests through vitest.config.ts (its global setup makes the cluster's folder)`);
  let mine = true;
  try {
    mkdirSync(path.join(dir, "starting"));
  } catch {
    mine = false;
  }
  if (mine) {
    try {
      await startCluster(dir);
      writeFileSync(path.join(dir, "ready"), "");
    } catch (err) {
      writeFileSync(path.join(dir, "failed"), (err as Error).message);
      throw err;
    }
  } else {
    const end = Date.now() + 120_000;
    while (!existsSync(path.join(dir, "ready"))) {
      if (existsSync(path.join(dir, "failed"))) throw new Error(`the test PostgreSQL did not start: ${readFileSync(path.join(dir, "failed"), "utf8")}`);
      if (Date.now() > end) throw new Error("timed out waiting for the test PostgreSQL to start");
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return dir;
}

/** initdb and start, as the `postgres` user when we are root (initdb refuses to run as root). */
async function startCluster(dir: string): Promise<void> {
  const bin = postgresBin();
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const { stdout } = await run("id", ["-u", SUPERUSER]).catch(() => ({ stdout: "" }));
    const uid = Number(stdout.trim());
    if (!uid) throw new Error(`there is no "${SUPERUSER}" user to run PostgreSQL as (Debian's postgresql package makes it)`);
    chownSync(dir, uid, -1);
  }
  const as = (file: string, args: string[]): Promise<unknown> =>
    run(asRoot ? "runuser" : file, asRoot ? ["-u", SUPERUSER, "--", file, ...args] : args, { cwd: dir, env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, timeout: 120_000 }).catch(
      (err: Error & { stderr?: string }) => {
        const log = existsSync(path.join(dir, "log")) ? readFileSync(path.join(dir, "log"), "utf8") : "";
        throw new Error(`${path.basename(file)} failed: ${err.stderr || err.message}\n${log}`);
      },
    );
  const data = path.join(dir, "data");
  await as(path.join(bin, "initdb"), ["-D", data, "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions"]);
  // Test data need not survive a crash: no fsync. A few hundred connections: every store is a pool.
  const options = `-k ${dir} -p 5432 -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300`;
  await as(path.join(bin, "pg_ctl"), ["-D", data, "-l", path.join(dir, "log"), "-w", "-t", "60", "-o", options, "start"]);
}

/** Stops and removes the run's cluster (the global setup's teardown); a folder with no cluster is just removed. */
export async function removeCluster(dir: string): Promise<void> {
  const data = path.join(dir, "data");
  if (existsSync(path.join(data, "postmaster.pid"))) {
    const pgCtl = path.join(postgresBin(), "pg_ctl");
    const asRoot = process.getuid?.() === 0;
    const args = ["-D", data, "-m", "immediate", "-w", "stop"];
    await run(asRoot ? "runuser" : pgCtl, asRoot ? ["-u", SUPERUSER, "--", pgCtl, ...args] : args, { cwd: dir, timeout: 60_000 }).catch(() => undefined);
  }
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

/** Debian keeps each major version's programs in /usr/lib/postgresql/<version>/bin: the newest installed. */
function postgresBin(): string {
  const root = "/usr/lib/postgresql";
  const versions = (existsSync(root) ? readdirSync(root) : [])
    .filter((v) => existsSync(path.join(root, v, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) throw new Error(`PostgreSQL is not installed (no ${root}/<version>/bin/initdb): apt-get install --no-install-recommends postgresql, as .ci/run does`);
  return path.join(root, versions[0]!, "bin");
}

/** A folder for the run's cluster (the global setup's); short, as the socket's path must stay under 107 bytes. */
export function makeRunFolder(): string {
  return mkdtempSync(path.join(os.tmpdir(), "sf-pg-"));
}
