import { describe, expect, it } from "vitest";
import { parseBuildpackRef, parseBuildpacksFile } from "../../../src/buildpacks/buildpack-ref.js";
import { isSlugforgeError } from "../../../src/errors.js";

describe("buildpack references (BUILDPACK_URL, .buildpacks)", () => {
  it("shipped names, Heroku's names for them, git URLs with and without #ref", () => {
    expect(parseBuildpackRef("python")).toEqual({ kind: "shipped", name: "python", spec: "python" });
    expect(parseBuildpackRef("heroku/python")).toMatchObject({ kind: "shipped", name: "python" });
    expect(parseBuildpackRef("https://github.com/heroku/heroku-buildpack-python.git#v290")).toMatchObject({
      kind: "git",
      url: "https://github.com/heroku/heroku-buildpack-python.git",
      ref: "v290",
    });
    expect(parseBuildpackRef(" file:///srv/bp ")).toMatchObject({ kind: "git", url: "file:///srv/bp", ref: undefined });
  });
  it.each(["ext::sh -c touch% /tmp/pwned", "ssh://git@host/bp.git", "git@github.com:x/y.git", "Python!", "https://host/x#bad ref", "https://"])(
    "BUILDPACK_NOT_FOUND for %s",
    (spec) => {
      let code: string | undefined;
      try {
        parseBuildpackRef(spec);
      } catch (err) {
        code = isSlugforgeError(err) ? err.code : "other";
      }
      expect(code).toBe("BUILDPACK_NOT_FOUND");
    },
  );
  it(".buildpacks: one a line, comments and blanks skipped, order kept", () => {
    expect(parseBuildpacksFile("# first\nexporter\n\n  https://h/x.git#main  \r\n").map((r) => r.spec)).toEqual(["exporter", "https://h/x.git#main"]);
  });
});
