import path from "node:path";
import { pathToFileURL } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";

// dashboard/terminal.js runs in the browser; here it gets the few DOM calls it makes from a fake,
// which also shows that it makes nothing but spans and text nodes.

class FakeText {
  constructor(public data: string) {}
}
class FakeElement {
  className = "";
  readonly children: (FakeElement | FakeText)[] = [];
  scrollTop = 0;
  clientHeight = 100;
  scrollHeight = 100;
  constructor(readonly tag: string) {}
  append(...nodes: (FakeElement | FakeText)[]): void {
    this.children.push(...nodes);
  }
  get firstChild(): FakeElement | FakeText | undefined {
    return this.children[0];
  }
  get textContent(): string {
    return this.children.map((c) => (c instanceof FakeText ? c.data : c.textContent)).join("");
  }
}

type Terminal = { feed(text: string): void; readonly text: string };
let createTerminal: (pre: FakeElement) => Terminal;

beforeAll(async () => {
  Object.assign(globalThis, { document: { createElement: (tag: string) => new FakeElement(tag), createTextNode: (t: string) => new FakeText(t) } });
  const url = pathToFileURL(path.resolve(import.meta.dirname, "../../../dashboard/terminal.js")).href;
  ({ createTerminal } = (await import(url)) as { createTerminal: typeof createTerminal });
});

const run = (...chunks: string[]): { text: string; pre: FakeElement } => {
  const pre = new FakeElement("pre");
  const terminal = createTerminal(pre);
  for (const c of chunks) terminal.feed(c);
  return { text: terminal.text, pre };
};

describe("the dashboard's build output", () => {
  it("keeps lines, and lets \\r rewrite a progress line, also when \\r and \\n arrive in different chunks", () => {
    expect(run("-----> one\r\n", "two\n").text).toBe("-----> one\ntwo\n");
    expect(run("progress 50%\rprogress 100%\n").text).toBe("progress 100%\n");
    expect(run("kept\r", "\nnext").text).toBe("kept\nnext");
    expect(run("50%\r", "100%\n").text).toBe("100%\n");
  });

  it("drops colour and other escape sequences, also one cut between chunks, and control characters", () => {
    expect(run("\u001b[1;32mgreen\u001b[0m café ✓\n").text).toBe("green café ✓\n");
    expect(run("a\u001b[1;3", "2mb\n").text).toBe("ab\n");
    expect(run("a\u001b", "[0mb\n").text).toBe("ab\n");
    expect(run("\u001b]0;title\u0007text\n").text).toBe("text\n");
    expect(run("a\u0000b\u0007c\u007fd\te\n").text).toBe("abcd\te\n");
  });

  it("shows markup as the text it is: only line spans holding text nodes are made", () => {
    const hostile = '<img src=x onerror="alert(1)"><script>alert(2)</script>';
    const { text, pre } = run(`${hostile}\n`, "</pre>&amp;\n");
    expect(text).toBe(`${hostile}\n</pre>&amp;\n`);
    for (const line of pre.children) {
      expect(line).toBeInstanceOf(FakeElement);
      expect((line as FakeElement).tag).toBe("span");
      expect((line as FakeElement).children.every((c) => c instanceof FakeText)).toBe(true);
    }
  });
});
