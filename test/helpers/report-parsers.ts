import { parse } from "yaml";

/** An XML element as the JUnit tests read it back. */
export interface XmlElement {
  readonly name: string;
  readonly attrs: Record<string, string>;
  readonly children: XmlElement[];
  text: string;
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
const decode = (s: string): string =>
  s.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (m, e: string) =>
    e[0] === "#" ? String.fromCodePoint(e[1] === "x" ? parseInt(e.slice(2), 16) : Number(e.slice(1))) : (ENTITIES[e] ?? m),
  );

/**
 * Just enough of XML for JUnit reports: elements, attributes, text, the declaration. Throws on
 * anything that is not well formed (unbalanced tags, stray `<` or `&`, control characters).
 */
export function parseXml(xml: string): XmlElement {
  // eslint-disable-next-line no-control-regex -- XML 1.0 forbids these
  if (/[\x00-\x08\x0b\x0c\x0e-\x1f]/.test(xml)) throw new Error("control character in XML");
  const root: XmlElement = { name: "#root", attrs: {}, children: [], text: "" };
  const stack = [root];
  const token = /<\?[^?]*\?>|<(\/?)([A-Za-z_][\w.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/gy;
  let m: RegExpExecArray | null;
  let at = 0;
  while ((m = token.exec(xml))) {
    at = token.lastIndex;
    const top = stack[stack.length - 1]!;
    if (m[5] !== undefined) {
      if (/&(?!(#x[0-9a-f]+|#\d+|\w+);)/i.test(m[5])) throw new Error(`stray & in text near ${m.index}`);
      top.text += decode(m[5]);
      continue;
    }
    if (!m[2]) continue;
    if (m[1]) {
      if (top.name !== m[2]) throw new Error(`</${m[2]}> closes <${top.name}>`);
      stack.pop();
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of m[3]!.matchAll(/([\w:.-]+)="([^"]*)"/g)) attrs[a[1]!] = decode(a[2]!);
    const el: XmlElement = { name: m[2], attrs, children: [], text: "" };
    top.children.push(el);
    if (!m[4]) stack.push(el);
  }
  if (at !== xml.length) throw new Error(`not XML at offset ${at}`);
  if (stack.length !== 1) throw new Error(`<${stack[stack.length - 1]!.name}> is never closed`);
  if (root.children.length !== 1) throw new Error("expected one root element");
  return root.children[0]!;
}

export function findAll(el: XmlElement, name: string): XmlElement[] {
  return el.children.flatMap((c) => [...(c.name === name ? [c] : []), ...findAll(c, name)]);
}

export interface TapPoint {
  readonly ok: boolean;
  readonly id: number;
  readonly description: string;
  readonly skip?: string;
  readonly diagnostics?: Record<string, unknown>;
}

/** TAP 14 as the reporter writes it: version, plan, test points, YAML blocks. */
export function parseTap(text: string): { version: number; plan: number; points: TapPoint[] } {
  const lines = text.split("\n");
  const version = Number(/^TAP version (\d+)$/.exec(lines[0] ?? "")?.[1]);
  const plan = Number(/^1\.\.(\d+)$/.exec(lines[1] ?? "")?.[1]);
  const points: TapPoint[] = [];
  for (let i = 2; i < lines.length; i++) {
    const m = /^(not )?ok (\d+) - (.*?)(?: # SKIP ?(.*))?$/.exec(lines[i]!);
    if (!m) throw new Error(`not a TAP line: ${lines[i]}`);
    let diagnostics: Record<string, unknown> | undefined;
    if (lines[i + 1] === "  ---") {
      const end = lines.indexOf("  ...", i + 1);
      diagnostics = parse(lines.slice(i + 2, end).map((l) => l.slice(2)).join("\n")) as Record<string, unknown>;
      i = end;
    }
    points.push({ ok: !m[1], id: Number(m[2]), description: m[3]!, skip: m[4], diagnostics });
  }
  return { version, plan, points };
}
