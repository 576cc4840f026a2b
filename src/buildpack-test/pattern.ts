/**
 * A pattern in an expectations file: plain text matches as a substring, `/source/flags` as a
 * regular expression. Substrings by default because build output is full of `.`, `(` and `$`.
 */
export interface Pattern {
  readonly source: string;
  test(text: string): boolean;
}

const REGEX = /^\/(.+)\/([dgimsuy]*)$/s;

/** Parses a pattern, or returns why it is not one. */
export function parsePattern(raw: string): Pattern | string {
  const m = REGEX.exec(raw);
  if (!m) return { source: raw, test: (text) => text.includes(raw) };
  let re: RegExp;
  try {
    // No g or y: a stateful lastIndex would make a second test() of the same text fail.
    re = new RegExp(m[1]!, m[2]!.replace(/[gy]/g, ""));
  } catch (err) {
    return `${raw} is not a valid regular expression (${(err as Error).message})`;
  }
  return { source: raw, test: (text) => re.test(text) };
}

/**
 * A slug path pattern: `*` matches within one path segment, `**` across segments; a trailing
 * `/` is ignored. Anything else matches itself.
 */
export function globToRegExp(glob: string): RegExp {
  const trimmed = glob.replace(/^\.?\/+/, "").replace(/\/+$/, "");
  let re = "";
  for (let i = 0; i < trimmed.length; i++) {
    const c = trimmed[i]!;
    if (c === "*" && trimmed[i + 1] === "*") {
      re += ".*";
      i++;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}
