import { chmod, mkdir, readdir, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { tmpDirs } from "../../helpers/tmp-dir.js";
import { startServer } from "./server.js";

const dirs = tmpDirs();
afterAll(() => dirs.cleanup());

const modeOf = async (p: string): Promise<string> => ((await stat(p)).mode & 0o777).toString(8);

/** The data folder's mode and the modes of the SQLite files in it, while the server runs. */
async function modes(dataDir: string): Promise<Record<string, string>> {
  const found: Record<string, string> = { ".": await modeOf(dataDir) };
  for (const name of await readdir(dataDir)) if (name.startsWith("metadata.db")) found[name] = await modeOf(path.join(dataDir, name));
  return found;
}

describe("the data folder holds config var values: only the server's user can read it", () => {
  it("a new data folder is made 0700, its metadata database 0600", async () => {
    const dataDir = path.join(await dirs.make("sf-data-new-"), "data");
    const server = await startServer(dataDir);
    try {
      expect(await modes(dataDir)).toEqual({ ".": "700", "metadata.db": "600", "metadata.db-wal": "600", "metadata.db-shm": "600" });
    } finally {
      await server.close();
    }
  });

  it("an existing world-readable data folder and database are made private at start", async () => {
    const dataDir = await dirs.make("sf-data-old-");
    // As an earlier version left them: folder 0755, database files 0644.
    await writeFile(path.join(dataDir, "metadata.db"), "");
    await writeFile(path.join(dataDir, "metadata.db-wal"), "");
    await writeFile(path.join(dataDir, "metadata.db-shm"), "");
    await mkdir(path.join(dataDir, "repos"), { mode: 0o755 });
    for (const name of ["metadata.db", "metadata.db-wal", "metadata.db-shm"]) await chmod(path.join(dataDir, name), 0o644);
    await chmod(dataDir, 0o755);

    const server = await startServer(dataDir);
    try {
      expect(await modes(dataDir)).toEqual({ ".": "700", "metadata.db": "600", "metadata.db-wal": "600", "metadata.db-shm": "600" });
      // Only the server's user can get inside; an app's records are still served.
      expect((await server.api("POST", "/api/apps", { name: "private" })).status).toBe(201);
    } finally {
      await server.close();
    }
    // And at every start, whatever changed it meanwhile.
    await chmod(dataDir, 0o777);
    const again = await startServer(dataDir);
    try {
      expect(await modeOf(dataDir)).toBe("700");
      expect((await again.api<{ name: string }[]>("GET", "/api/apps")).body.map((a) => a.name)).toEqual(["private"]);
    } finally {
      await again.close();
    }
  });
});
