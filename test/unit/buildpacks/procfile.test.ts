import { describe, expect, it } from "vitest";
import { parseProcfile } from "../../../src/buildpacks/procfile.js";

describe("parseProcfile", () => {
  it("reads name: command lines, skipping blanks and comments, reporting the rest", () => {
    const parsed = parseProcfile("# processes\nweb: gunicorn app:app --bind 0.0.0.0:$PORT\r\n\nworker:python worker.py  \nrelease_phase-2: ./migrate\nnot a process\n: empty name\n");
    expect(parsed.processTypes).toEqual({
      web: "gunicorn app:app --bind 0.0.0.0:$PORT",
      worker: "python worker.py",
      "release_phase-2": "./migrate",
    });
    expect(parsed.invalidLines).toEqual(["not a process", ": empty name"]);
  });
  it("keeps colons inside the command and lets a later line of the same type win", () => {
    expect(parseProcfile("web: a: b\nweb: c").processTypes).toEqual({ web: "c" });
  });
});
