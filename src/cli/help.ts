/** A command as the help lists it. */
export interface HelpEntry {
  readonly usage: string;
  readonly summary: string;
}

export interface HelpSection {
  readonly title: string;
  readonly entries: readonly HelpEntry[];
}

/** The width help is written for: the terminal's, kept between 60 and 100 columns; 80 when not a terminal. */
export function helpWidth(columns: number | undefined): number {
  return columns && columns > 0 ? Math.min(100, Math.max(60, columns)) : 80;
}

/** Usages longer than this put their summary on the next line rather than push every summary right. */
const MAX_USAGE_COLUMN = 30;

/**
 * Sections of `usage  summary` lines, every summary starting in one column across all sections.
 * A usage too long for that column stands on its own line with its summary under the column; a
 * summary too long for the width wraps, its next lines in the same column.
 */
export function formatCommandList(sections: readonly HelpSection[], width = 80): string {
  const usages = sections.flatMap((s) => s.entries.map((e) => e.usage.length));
  const column = 2 + Math.min(MAX_USAGE_COLUMN, Math.max(0, ...usages.filter((n) => n <= MAX_USAGE_COLUMN))) + 2;
  const pad = " ".repeat(column);
  return sections
    .map((section) => {
      const lines = wrap(section.title, width);
      for (const { usage, summary } of section.entries) {
        const body = wrap(summary, width - column);
        const first = `  ${usage}`;
        // A usage wider than the line wraps too, its next lines in the summaries column.
        if (first.length > width) lines.push(...wrap(usage, width - column).map((l, i) => (i === 0 ? `  ${l}` : pad + l)), ...body.map((l) => pad + l));
        else if (first.length + 2 > column) lines.push(first, ...body.map((l) => pad + l));
        else lines.push(first.padEnd(column) + body[0], ...body.slice(1).map((l) => pad + l));
      }
      return lines.join("\n");
    })
    .join("\n\n");
}

/**
 * Lines of at most `width` characters, broken at spaces; a word longer than the width (a URL)
 * stands alone on its line rather than being cut. Paragraphs (blank lines) are kept.
 */
export function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  for (const paragraph of text.split("\n")) {
    let line = "";
    for (const word of paragraph.split(/ +/).filter(Boolean)) {
      if (line && line.length + 1 + word.length > width) {
        out.push(line);
        line = word;
      } else line = line ? `${line} ${word}` : word;
    }
    out.push(line);
  }
  return out;
}

/** `Usage: slugforge <usage>` with continuation lines under the usage when it is too long. */
export function formatUsage(usage: string, width = 80): string {
  const lead = "Usage: slugforge ";
  return wrap(usage, width - lead.length)
    .map((line, i) => (i === 0 ? lead : " ".repeat(lead.length)) + line)
    .join("\n");
}
