import { writeFile } from "node:fs/promises";
import path from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, expect, it } from "vitest";
import { runProcess } from "../../../src/util/run-process.js";
import { tarOut } from "../../../src/util/tar-out.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";

const dirs = tmpDirs();
afterAll(() => dirs.cleanup());

/** A folder whose tar (2 MiB) is more than a pipe holds. */
async function bigFolder(): Promise<string> {
  const dir = await dirs.make("sf-child-out-");
  await writeFile(path.join(dir, "big"), Buffer.alloc(2 * 1024 * 1024, 1));
  return dir;
}

it("tarOut: a reader that goes away before reading anything stops tar, which then exits", async () => {
  const out = tarOut(["-c", "-f", "-", "-C", await bigFolder(), "."]);
  out.stream.destroy();
  expect(await out.exited).not.toBe(0);
}, 10_000);

it("runProcess: output going to a stream that is destroyed stops the child; the run ends", async () => {
  const sink = new PassThrough();
  const running = runProcess("tar", ["-c", "-f", "-", "-C", await bigFolder(), "."], { stdout: sink });
  sink.destroy();
  expect((await running).code).not.toBe(0);
}, 10_000);

