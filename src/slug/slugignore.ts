/**
 * `.slugignore`, as Heroku reads it: .gitignore-style patterns, one a line, whose matches are
 * removed from the source before the build. `#` starts a comment; `!` negation is not supported
 * (Heroku never had it), so such lines are reported back and otherwise ignored.
 */
export interface Slugignore {
  /** True when the path (relative to the app root, "/"-separated) or one of its parent directories matches. */
  ignores(relPath: string, isDirectory: boolean): boolean;
  /** Lines that were skipped (negations), for a warning to the pusher. */
  readonly unsupported: readonly string[];
}

interface Rule {
  readonly regex: RegExp;
  readonly directoryOnly: boolean;
}

export function parseSlugignore(text: string): Slugignore {
  const rules: Rule[] = [];
  const unsupported: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/(?<!\\)\s+$/, "");
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("!")) {
      unsupported.push(line);
      continue;
    }
    const rule = compileRule(line);
    if (rule) rules.push(rule);
  }
  const matchesItself = (p: string, isDir: boolean): boolean =>
    rules.some((r) => (isDir || !r.directoryOnly) && r.regex.test(p));
  return {
    unsupported,
    ignores(relPath, isDirectory) {
      const parts = relPath.replace(/^\.?\/+/, "").replace(/\/+$/, "").split("/").filter(Boolean);
      for (let i = 1; i <= parts.length; i++) {
        const isLast = i === parts.length;
        if (matchesItself(parts.slice(0, i).join("/"), isLast ? isDirectory : true)) return true;
      }
      return false;
    },
  };
}

function compileRule(line: string): Rule | undefined {
  let pattern = line.startsWith("\\#") || line.startsWith("\\!") ? line.slice(1) : line;
  const directoryOnly = pattern.endsWith("/");
  if (directoryOnly) pattern = pattern.replace(/\/+$/, "");
  // A slash at the start or in the middle anchors the pattern to the app root; otherwise it
  // matches a name at any depth (as in .gitignore).
  const anchored = pattern.includes("/");
  pattern = pattern.replace(/^\/+/, "");
  if (pattern === "") return undefined;
  const body = globToRegex(pattern);
  const prefix = anchored ? "^" : "^(?:.*/)?";
  return { regex: new RegExp(`${prefix}${body}$`), directoryOnly };
}

/** Translates one gitignore glob into a regex body: `*`, `?`, `[...]`, and `**` across slashes. */
export function globToRegex(glob: string): string {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") {
      if (glob[i + 1] === "*") {
        const atStart = i === 0 || glob[i - 1] === "/";
        const atEnd = i + 2 === glob.length || glob[i + 2] === "/";
        if (atStart && atEnd) {
          // "**/" matches zero or more directories; a trailing "**" matches everything inside.
          if (i + 2 === glob.length) out += ".*";
          else out += "(?:.*/)?";
          i += glob[i + 2] === "/" ? 2 : 1;
          continue;
        }
        i += 1;
      }
      out += "[^/]*";
    } else if (c === "?") {
      out += "[^/]";
    } else if (c === "[") {
      const close = glob.indexOf("]", i + 2);
      if (close === -1) {
        out += "\\[";
      } else {
        let cls = glob.slice(i + 1, close);
        if (cls.startsWith("!")) cls = `^${cls.slice(1)}`;
        out += `[${cls.replace(/\\/g, "\\\\")}]`;
        i = close;
      }
    } else if (c === "\\" && i + 1 < glob.length) {
      out += escapeRegex(glob[i + 1]!);
      i += 1;
    } else {
      out += escapeRegex(c);
    }
  }
  return out;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
