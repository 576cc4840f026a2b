import { describe, expect, it } from "vitest";
import { parseAppJson } from "../../../src/builds/app-json.js";
import { newAppConfigVars } from "../../../src/builds/app-json-env.js";
import { SlugforgeError } from "../../../src/errors.js";

/** The APP_JSON_INVALID lines parseAppJson throws for `text`. */
function errorsOf(text: string): string[] {
  try {
    parseAppJson(text);
  } catch (err) {
    expect(err).toBeInstanceOf(SlugforgeError);
    expect((err as SlugforgeError).code).toBe("APP_JSON_INVALID");
    return (err as SlugforgeError).data.errors as string[];
  }
  throw new Error("parsed without an error");
}

describe("parseAppJson", () => {
  it("reads buildpacks, env, stack and scripts.postdeploy", () => {
    const manifest = parseAppJson(
      JSON.stringify({
        buildpacks: [{ url: "heroku/python" }, { url: "https://example.com/bp.git#v2" }],
        env: {
          GREETING: { value: "hello", description: "what to say" },
          SHORT: "form",
          SECRET_KEY: { generator: "secret" },
          DATABASE_URL: { description: "where the data is" },
          OPTIONAL: { required: false },
        },
        stack: "heroku-22",
        scripts: { postdeploy: "python manage.py seed" },
      }),
    );
    expect(manifest.buildpacks?.map((b) => b.spec)).toEqual(["heroku/python", "https://example.com/bp.git#v2"]);
    expect(manifest.buildpacks?.[0]).toMatchObject({ kind: "shipped", name: "python" });
    expect(manifest.env).toEqual({
      GREETING: { value: "hello", required: false, description: "what to say" },
      SHORT: { value: "form", required: false },
      SECRET_KEY: { generator: "secret", required: false },
      DATABASE_URL: { required: true, description: "where the data is" },
      OPTIONAL: { required: false },
    });
    expect(manifest.stack).toBe("heroku-22");
    expect(manifest.postdeploy).toBe("python manage.py seed");
    expect(manifest.ignored).toEqual([]);
  });

  it("takes Heroku's object form of postdeploy, ignoring its size", () => {
    const manifest = parseAppJson('{"scripts": {"postdeploy": {"command": "./seed", "size": "performance-l"}, "pr-predestroy": "./clean"}}');
    expect(manifest.postdeploy).toBe("./seed");
    expect(manifest.ignored).toEqual(["scripts.pr-predestroy", "scripts.postdeploy.size"]);
  });

  it("lists what it does not use: other top-level keys, other env fields", () => {
    const manifest = parseAppJson('{"name": "x", "addons": ["heroku-postgresql"], "formation": {}, "env": {"A": {"value": "1", "order": 2}}}');
    expect(manifest.ignored).toEqual(["name", "addons", "formation", "env.A.order"]);
    expect(manifest.buildpacks).toBeUndefined();
  });

  it("an empty buildpacks list names none", () => {
    expect(parseAppJson('{"buildpacks": []}').buildpacks).toBeUndefined();
    expect(parseAppJson("{}")).toEqual({ buildpacks: undefined, env: {}, stack: undefined, postdeploy: undefined, ignored: [] });
  });

  it("refuses text that is not JSON, with the line and column", () => {
    const [line] = errorsOf('{\n  "env": {\n    "A": "1",\n  }\n}');
    expect(line).toMatch(/^app\.json: not valid JSON \(.* at line 4, column 3\)$/);
    expect(errorsOf("")[0]).toMatch(/^app\.json: not valid JSON \(Unexpected end of JSON input\)$/);
    expect(errorsOf("[1]")).toEqual(["app.json: the file must hold a JSON object ({ ... })"]);
  });

  it("names every field of the wrong shape by its path, all at once", () => {
    const errors = errorsOf(
      JSON.stringify({
        buildpacks: [{ url: "heroku/python" }, "heroku/nodejs", { url: "ssh://git@host/bp.git" }],
        env: { SECRET_KEY: { generator: "uuid" }, FLAG: { required: "yes" }, "BAD-NAME": "x", NUM: 3, V: { value: 3 } },
        stack: 22,
        scripts: { postdeploy: 1 },
      }),
    );
    expect(errors).toEqual([
      'app.json: buildpacks[1].url must be a string naming a buildpack (a name or a https:// or file:// git URL)',
      'app.json: buildpacks[2].url: buildpack "ssh://git@host/bp.git": the ssh: scheme is not supported (use https:// or file://)',
      'app.json: env.SECRET_KEY.generator must be "secret"',
      "app.json: env.FLAG.required must be true or false",
      'app.json: env.BAD-NAME: "BAD-NAME" is not a valid config var name (letters, digits and _; not starting with a digit)',
      'app.json: env.NUM must be a string or an object with "value", "generator", "required" or "description"',
      "app.json: env.V.value must be a string",
      "app.json: stack must be a string naming a stack",
      "app.json: scripts.postdeploy must be a command (a non-empty string)",
    ]);
  });

  it("refuses env, buildpacks and scripts of the wrong kind", () => {
    expect(errorsOf('{"env": [], "buildpacks": {"url": "x"}, "scripts": "x"}')).toEqual([
      'app.json: buildpacks must be an array of objects with a "url" ([{"url": "heroku/python"}])',
      'app.json: env must be an object of config vars ({"NAME": {"value": "..."}} or {"NAME": "..."})',
      'app.json: scripts must be an object ({"postdeploy": "command"})',
    ]);
  });
});

describe("newAppConfigVars", () => {
  const env = parseAppJson(
    JSON.stringify({ env: { GREETING: { value: "hello" }, SECRET_KEY: { generator: "secret" }, OPTIONAL: { required: false }, SET: { value: "default" } } }),
  ).env;

  it("gives values and made secrets for the vars the app does not have", () => {
    expect(newAppConfigVars("web", env, { SET: "mine" }, () => "s3cr3t")).toEqual({ GREETING: "hello", SECRET_KEY: "s3cr3t" });
  });

  it("makes a 32-byte hex secret", () => {
    expect(newAppConfigVars("web", env, {}).SECRET_KEY).toMatch(/^[0-9a-f]{64}$/);
  });

  it("refuses required vars the app does not have, naming each and the command that sets them", () => {
    const required = parseAppJson('{"env": {"A": {"description": "the key"}, "B": {"required": true}, "C": {"value": "c"}}}').env;
    let caught: unknown;
    try {
      newAppConfigVars("web", required, {});
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(SlugforgeError);
    expect((caught as SlugforgeError).code).toBe("CONFIG_REQUIRED");
    expect((caught as SlugforgeError).message).toBe(
      "app.json requires config vars this app does not have: A (the key), B. Set them with `slugforge config:set web A=… B=…` and push again.",
    );
    expect(newAppConfigVars("web", required, { A: "1", B: "2" })).toEqual({ C: "c" });
  });
});
