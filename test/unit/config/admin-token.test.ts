import { stat, writeFile } from "node:fs/promises";
import { afterAll, expect, it } from "vitest";
import { adminTokenFile, createAdminToken, readAdminToken } from "../../../src/config/admin-token.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";

const dirs = tmpDirs();
afterAll(() => dirs.cleanup());

it("takes SLUGFORGE_TOKEN first, else the data folder's token file, else none", async () => {
  const dataDir = await dirs.make("sf-token-");
  expect(readAdminToken({ token: undefined, dataDir })).toBeUndefined();
  await writeFile(adminTokenFile(dataDir), "kept-token\n");
  expect(readAdminToken({ token: undefined, dataDir })).toBe("kept-token");
  expect(readAdminToken({ token: "from-the-env", dataDir })).toBe("from-the-env");
});

it("keeps a new token readable by the server's user only", async () => {
  const dataDir = await dirs.make("sf-token-");
  const { token, file } = createAdminToken(dataDir);
  expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
  expect((await stat(file)).mode & 0o777).toBe(0o600);
  expect(readAdminToken({ token: undefined, dataDir })).toBe(token);
});
