import { spawn } from "node:child_process";
import { PassThrough } from "node:stream";
import { pipeChildOutput, stderrHead } from "./child-output.js";

/** A `tar -c` child's archive as a stream, with how it ended. */
export interface TarOut {
  /** The archive, taken from the child at once (a child's unread stdout is lost when it exits). */
  readonly stream: PassThrough;
  /** tar's exit code (127 when it could not start). */
  readonly exited: Promise<number>;
  /** What tar said on stderr (the first 4 KiB), trimmed. */
  stderr(): string;
  /** Stops tar and ends the stream. */
  cancel(): void;
}

/** Runs GNU tar on the host with `args` (which must write the archive to stdout, `-f -`). */
export function tarOut(args: readonly string[]): TarOut {
  const child = spawn("tar", args, { stdio: ["ignore", "pipe", "pipe"] });
  const stderr = stderrHead(child.stderr);
  const exited = new Promise<number>((resolve) => {
    child.on("error", () => resolve(127));
    child.on("close", (code) => resolve(code ?? 1));
  });
  // Taken at once: a small archive is done before the reader (an exec being set up) is ready.
  const stream = new PassThrough({ highWaterMark: 1024 * 1024 });
  pipeChildOutput(child.stdout, stream);
  return {
    stream,
    exited,
    stderr: () => stderr().trim(),
    cancel: () => {
      if (child.exitCode === null) child.kill("SIGKILL");
      stream.destroy();
    },
  };
}
