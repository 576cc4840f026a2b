import type { BuildStatus } from "../build-status.js";

/** Where output goes, as far as colour cares. */
export interface OutputStream {
  readonly isTTY?: boolean;
}

/**
 * Colour only for a person at a terminal: the stream is a TTY, NO_COLOR is not set (with any value,
 * the empty string included: no-color.org asks for a non-empty one, but a set variable only ever
 * takes colour away here), TERM is not `dumb`, and the output is not --json (scripts read it).
 */
export function colorEnabled(stream: OutputStream, env: Readonly<Record<string, string | undefined>>, json = false): boolean {
  return !json && stream.isTTY === true && env.NO_COLOR === undefined && env.TERM !== "dumb";
}

type Paint = (text: string) => string;

/** A few ANSI styles, or none: every function returns its text as it is when colour is off. */
export interface Style {
  readonly enabled: boolean;
  readonly bold: Paint;
  readonly dim: Paint;
  readonly red: Paint;
  readonly green: Paint;
  readonly yellow: Paint;
  readonly cyan: Paint;
}

const sgr =
  (on: number, off: number): Paint =>
  (text) =>
    text === "" ? text : `\x1b[${on}m${text}\x1b[${off}m`;

export function createStyle(enabled: boolean): Style {
  if (!enabled) return PLAIN;
  return { enabled, bold: sgr(1, 22), dim: sgr(2, 22), red: sgr(31, 39), green: sgr(32, 39), yellow: sgr(33, 39), cyan: sgr(36, 39) };
}

const same: Paint = (text) => text;
export const PLAIN: Style = { enabled: false, bold: same, dim: same, red: same, green: same, yellow: same, cyan: same };

/** A build status in its colour: succeeded green, failed red, still running yellow, cancelled dim. */
export function paintStatus(status: string, style: Style): string {
  const paint: Record<BuildStatus, Paint> = { succeeded: style.green, failed: style.red, queued: style.yellow, building: style.yellow, cancelled: style.dim };
  return (paint[status as BuildStatus] ?? same)(status);
}
