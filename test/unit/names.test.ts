import { describe, expect, it } from "vitest";
import { ERROR_CODES } from "../../src/errors.js";
import { APP_NAME_RULE, isConfigVarName, isValidAppName } from "../../src/names.js";

describe("app names", () => {
  it.each(["ab", "my-app", "a1", "x".repeat(30)])("accepts %s", (name) => expect(isValidAppName(name)).toBe(true));
  it.each(["a", "1app", "-app", "App", "my_app", "x".repeat(31), "a.b", "", "a\0b"])("refuses %j", (name) => expect(isValidAppName(name)).toBe(false));
  it("is explained in APP_NAME_INVALID's hint in the rule's own words", () => {
    expect(ERROR_CODES.APP_NAME_INVALID.hint).toContain(APP_NAME_RULE);
  });
});

describe("config var names", () => {
  it.each(["PATH", "_x", "a1", "DATABASE_URL"])("accepts %s", (name) => expect(isConfigVarName(name)).toBe(true));
  it.each(["", "1A", "A-B", "A B", "A=B", "Ä", "A\nB"])("refuses %j", (name) => expect(isConfigVarName(name)).toBe(false));
});
