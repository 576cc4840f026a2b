/* eslint-disable no-control-regex -- matching control characters is what this file is for */
// Build output as a terminal shows it, in a <pre>: lines, `\r` rewriting a progress line, colour
// codes and other control sequences dropped. Text goes in as text nodes only: output is hostile.

// CSI (colours, cursor moves) and OSC (titles, links) sequences.
const ESCAPES = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g;
// Other control characters, but tab, newline and carriage return.
const CONTROLS = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g;
// An escape sequence cut at the end of a chunk: held back until the rest arrives.
const CUT_ESCAPE = /\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*\x1b?)?$/;

export function createTerminal(pre) {
  let line = null;
  let carry = "";
  let returned = false;

  const newLine = () => {
    line = document.createElement("span");
    line.className = "line";
    line.append(document.createTextNode(""));
    pre.append(line);
  };
  const text = (t) => {
    if (!t) return;
    if (line === null) newLine();
    // After a bare \r, what follows rewrites the line from its start.
    if (returned) line.firstChild.data = "";
    returned = false;
    line.firstChild.data += t;
  };

  return {
    feed(chunk) {
      let data = carry + chunk;
      const cut = CUT_ESCAPE.exec(data);
      carry = cut && data.length - cut.index < 256 ? cut[0] : "";
      if (carry) data = data.slice(0, data.length - carry.length);
      data = data.replace(ESCAPES, "").replace(CONTROLS, "");
      const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      for (const part of data.split(/(\r\n|\n|\r)/)) {
        if (part === "\n" || part === "\r\n") {
          if (line === null) newLine();
          line.firstChild.data += "\n";
          returned = false;
          line = null;
        } else if (part === "\r") {
          returned = true;
        } else {
          text(part);
        }
      }
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    },
    /** The text shown, for tests and copy. */
    get text() {
      return pre.textContent;
    },
  };
}
