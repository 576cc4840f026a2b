import { describe, expect, it } from "vitest";
import { checkedEntry } from "../../../src/builds/laid-source.js";

describe("checkedEntry (the host unpacks a commit into a prepared container's /app)", () => {
  it("gives files, folders and links to the build user ", () => {
    const links = new Set<string>();
    expect(checkedEntry({ name: "a/", type: "directory", uid: 0, gid: 0, uname: "root", gname: "root" }, links)).toMatchObject({ uid: 1000, gid: 1000, uname: "", gname: "" });
    expect(checkedEntry({ name: "a/b.txt", type: "file", uid: 0 }, links)).toMatchObject({ name: "a/b.txt", uid: 1000 });
    expect(checkedEntry({ name: "l", type: "symlink", linkname: "/etc" }, links)).toMatchObject({ linkname: "/etc", uid: 1000 });
  });

  it("refuses what could reach outside /app: absolute names, `..`, entries beneath or over a link, hard links", () => {
    for (const name of ["/etc/passwd", "../x", "a/../../x", "a//b", "./x"]) {
      expect(() => checkedEntry({ name, type: "file" }, new Set()), name).toThrow(/not unpacking it on the host/);
    }
    const links = new Set<string>();
    checkedEntry({ name: "l", type: "symlink", linkname: "/etc" }, links);
    expect(() => checkedEntry({ name: "l/passwd", type: "file" }, links)).toThrow(/beneath a link/);
    expect(() => checkedEntry({ name: "l/", type: "directory" }, links)).toThrow(/beneath a link/);
    expect(() => checkedEntry({ name: "h", type: "link", linkname: "/etc/shadow" }, links)).toThrow(/of type link/);
    expect(() => checkedEntry({ name: "d", type: "character-device" }, links)).toThrow(/of type character-device/);
  });
});
