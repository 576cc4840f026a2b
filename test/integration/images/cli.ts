import { vi } from "vitest";
import { main } from "../../../src/cli/main.js";
import type { ReleaseImage } from "../../../src/store/types.js";
import { E2E_TOKEN, type RunningServer } from "../e2e/server.js";

export interface Release {
  version: number;
  slugId: string;
  image: ReleaseImage | null;
  imageError: string | null;
}

/** The slugforge command, run in this process against the test server; what it printed and its exit code. */
export async function cli(server: RunningServer, args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const log = vi.spyOn(console, "log").mockImplementation((...parts: unknown[]) => void (out += `${parts.join(" ")}\n`));
  const error = vi.spyOn(console, "error").mockImplementation((...parts: unknown[]) => void (err += `${parts.join(" ")}\n`));
  try {
    const code = await main(args, { PATH: process.env.PATH, SLUGFORGE_URL: server.base, SLUGFORGE_TOKEN: E2E_TOKEN });
    return { code, out, err };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}
