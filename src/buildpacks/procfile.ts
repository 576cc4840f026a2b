/**
 * A Procfile: `name: command` lines (Heroku's own pattern, `^[A-Za-z0-9_-]+:\s*(.+)$`). Blank
 * lines and `#` comments are skipped; other lines that do not fit are reported, not fatal.
 */
export interface Procfile {
  readonly processTypes: Readonly<Record<string, string>>;
  readonly invalidLines: readonly string[];
}

const LINE = /^([A-Za-z0-9_-]+):\s*(.+?)\s*$/;

export function parseProcfile(text: string): Procfile {
  const processTypes: Record<string, string> = {};
  const invalidLines: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = LINE.exec(line);
    if (!m) {
      invalidLines.push(raw);
      continue;
    }
    processTypes[m[1]!] = m[2]!;
  }
  return { processTypes, invalidLines };
}
