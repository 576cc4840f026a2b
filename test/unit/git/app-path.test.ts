import { describe, expect, it } from "vitest";
import { parseGitPath, parseService, validGitProtocol } from "../../../src/git/app-path.js";

describe("routes", () => {
  it("recognises the three smart-HTTP routes", () => {
    expect(parseGitPath("/my-app.git/info/refs?service=git-receive-pack")).toEqual({ app: "my-app", route: "info/refs" });
    expect(parseGitPath("/my-app.git/git-receive-pack")).toEqual({ app: "my-app", route: "git-receive-pack" });
    expect(parseGitPath("/my-app.git/git-upload-pack")).toEqual({ app: "my-app", route: "git-upload-pack" });
  });
  it.each(["/../x.git/info/refs", "/%2e%2e/x.git/info/refs", "//etc.git/info/refs", "/a/b.git/info/refs", "/app.git.git/info/refs", "/app%00.git/info/refs", "/x.git/HEAD", "/x.git/objects/info/packs", "/x/info/refs", "/x.git/info/refs/", "/api/apps"])(
    "%s is not a route",
    (url) => expect(parseGitPath(url)).toBeUndefined(),
  );
  it("reads exactly one known service", () => {
    expect(parseService("/x?service=git-upload-pack")).toBe("git-upload-pack");
    expect(parseService("/x?service=git-receive-pack&service=git-upload-pack")).toBeUndefined();
    expect(parseService("/x?service=other")).toBeUndefined();
    expect(parseService("/x")).toBeUndefined();
  });
  it("passes only well-formed Git-Protocol values", () => {
    expect(validGitProtocol("version=2")).toBe("version=2");
    expect(validGitProtocol("version=2:object-format=sha256".replace("-", ""))).toBe("version=2:objectformat=sha256");
    expect(validGitProtocol("version=2\nX=1")).toBeUndefined();
    expect(validGitProtocol("version=2; rm -rf")).toBeUndefined();
    expect(validGitProtocol(undefined)).toBeUndefined();
  });
});
