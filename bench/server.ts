/**
 * The slugforge server as `slugforge serve` assembles it (createServer from src/main.ts), in a
 * process of its own so the benchmark can read that process's memory from /proc. The only
 * difference from `serve` is where the shipped buildpacks come from: BENCH_BUILDPACKS_DIR and
 * BENCH_SHIPPED_BUILDPACKS (comma-separated) pick them, so a push can run a no-op buildpack; and
 * BENCH_BUILDER=none puts a builder that does nothing (accepts every push at once) in the build
 * service's place, so a push times the receiving path alone.
 *
 * Prints one JSON line `{"port":N}` on stdout once listening; SIGTERM closes it.
 */
import { parseConfig } from "../src/config/parse-config.js";
import { createLogger } from "../src/log.js";
import { createServer } from "../src/main.js";
import type { Builder } from "../src/builds/types.js";

/** Accepts every push without building it. */
const nothingBuilder: Builder = {
  async build(request, output) {
    output.write("-----> bench: receive only (no build)\n");
    return { buildId: request.buildId ?? "none", status: "succeeded" };
  },
};

const parsed = parseConfig(process.env);
if (parsed.errors) {
  console.error(parsed.errors.join("\n"));
  process.exit(2);
}
const server = await createServer(parsed.config, {
  log: createLogger(process.env.BENCH_SERVER_LOG_LEVEL ?? "warn"),
  buildpacksDir: process.env.BENCH_BUILDPACKS_DIR,
  shippedBuildpacks: process.env.BENCH_SHIPPED_BUILDPACKS?.split(",").filter(Boolean),
  builder: process.env.BENCH_BUILDER === "none" ? nothingBuilder : undefined,
});
const port = await server.listen();
process.stdout.write(`${JSON.stringify({ port })}\n`);
const stop = (): void => {
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
