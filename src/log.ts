import { pino, type Logger } from "pino";

export type { Logger };

/** Operator logs: JSON lines on stderr. Build output for people goes elsewhere (git sideband, build log). */
export function createLogger(level = "info", destination: NodeJS.WritableStream = process.stderr): Logger {
  return pino({ level, base: { service: "slugforge" } }, destination);
}

/** A logger that drops everything, for tests and quiet commands. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
