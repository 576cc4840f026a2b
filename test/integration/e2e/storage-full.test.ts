import { mkdir } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runChecked, runProcess } from "../../../src/util/run-process.js";
import { GitClient } from "../../helpers/git-client.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";
import { fillDisk, freeDisk, integrityCheck, ServerProcess } from "../faults/fault-harness.js";

/*
 * A full disk is STORAGE_FULL, up front: the server's data folder on a small tmpfs, filled. New apps
 * and pushes are refused with what to free, a restart on the full disk still starts and serves
 * reads, and once there is space again everything works (SLUGFORGE_MIN_FREE_BYTES is the reserve).
 */
const dirs = tmpDirs();
let disk: string;
let dataDir: string;
let git: GitClient;
let server: ServerProcess;
let work: string;

beforeAll(async () => {
  const root = await dirs.make("sf-full-");
  disk = path.join(root, "disk");
  await mkdir(disk);
  await runChecked("mount", ["-t", "tmpfs", "-o", "size=64m", "tmpfs", disk]);
  dataDir = path.join(disk, "data");
  git = new GitClient(await dirs.make("sf-full-home-"));
  work = await dirs.make("sf-full-work-");
  await git.initRepo(work);
  server = new ServerProcess({
    PORT: "0",
    SLUGFORGE_HOST: "127.0.0.1",
    SLUGFORGE_DATA: dataDir,
    SLUGFORGE_TOKEN: "fault-token-0123456789",
    SLUGFORGE_BUILD_NETWORK: "none",
    SLUGFORGE_MIN_FREE_BYTES: "16MiB",
    // Release images are the image tests' business: this server leaves the engine's images alone.
    SLUGFORGE_IMAGES: "off",
  });
  await server.start();
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await runProcess("umount", ["-l", disk]);
  await dirs.cleanup();
});

describe("a full disk (STORAGE_FULL)", () => {
  it("refuses new apps and pushes up front, restarts on the full disk, and works again once freed", async () => {
    expect((await server.api("POST", "/api/apps", { name: "before" })).status).toBe(201);
    await fillDisk(disk);

    const created = await server.api<{ id: string; message: string }>("POST", "/api/apps", { name: "during" });
    expect(created.status).toBe(507);
    expect(created.body.id).toBe("STORAGE_FULL");
    expect(created.body.message).toMatch(/disk is full.*SLUGFORGE_MIN_FREE_BYTES.*Free space/);
    const push = await git.run(["push", server.url("before"), "main"], work);
    expect(push.code).not.toBe(0);
    expect(push.stderr).toMatch(/remote: STORAGE_FULL: the server's disk is full/);
    expect(push.stderr).not.toContain("Everything up-to-date");
    // A first push that would create an app is refused the same way, and creates nothing.
    expect((await git.run(["push", server.url("newcomer"), "main"], work)).stderr).toContain("STORAGE_FULL");

    // Restarted on the still full disk: it starts, serves reads, refuses pushes.
    await server.stop();
    await server.start();
    expect((await server.api<{ name: string }[]>("GET", "/api/apps")).body.map((a) => a.name)).toEqual(["before"]);
    expect((await git.run(["push", server.url("before"), "main"], work)).stderr).toContain("STORAGE_FULL");
    expect(server.log).toContain('"msg":"listening"');

    await freeDisk(disk);
    const again = await git.run(["push", server.url("before"), "main"], work);
    // The app has no buildpack that accepts it: the push reaches the build, past every space check.
    expect(again.stderr).toContain("NO_BUILDPACK_DETECTED");
    expect((await server.api("POST", "/api/apps", { name: "after" })).status).toBe(201);
    expect(integrityCheck(dataDir)).toBe("ok");
    expect(server.crashes).toEqual([]);
  });
});
