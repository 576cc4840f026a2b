// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", ".slugforge/", "bench/results/", "test/.tmp/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-console": "error",
    },
  },
  {
    // The CLI, benchmarks, scripts and tests talk to people on the terminal; the server uses pino.
    files: ["src/cli/**", "bench/**", "scripts/**", "bin/**", "test/**"],
    rules: { "no-console": "off" },
  },
  {
    files: ["**/*.js"],
    ignores: ["dashboard/**"],
    languageOptions: { globals: { process: "readonly", console: "readonly" } },
  },
  {
    // The dashboard's scripts: browser ES modules under a CSP without inline script. Everything they
    // show is other people's text (build output above all), so markup from strings is refused here.
    files: ["dashboard/**/*.js"],
    languageOptions: {
      sourceType: "module",
      globals: Object.fromEntries(
        ["window", "document", "location", "fetch", "TextDecoder", "AbortController", "Node", "URL", "setTimeout", "clearTimeout"].map((g) => [g, "readonly"]),
      ),
    },
    rules: {
      "no-console": "error",
      "no-eval": "error",
      "no-implied-eval": "error",
      "no-new-func": "error",
      "no-restricted-syntax": [
        "error",
        { selector: "MemberExpression[property.name=/^(innerHTML|outerHTML)$/]", message: "Build the DOM with dom.js (text nodes): the text is hostile." },
        { selector: "CallExpression[callee.property.name=/^(insertAdjacentHTML|write|writeln|createContextualFragment|parseFromString)$/]", message: "No markup from strings: build the DOM with dom.js." },
      ],
    },
  },
  {
    // The node pre-receive hook: CommonJS on node's built-ins, copied as it is into the server's hooks folder.
    files: ["hooks/**/*.cjs"],
    languageOptions: {
      sourceType: "commonjs",
      globals: { require: "readonly", process: "readonly", Buffer: "readonly", setTimeout: "readonly", clearTimeout: "readonly" },
    },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
  {
    // dependency-cruiser reads its config as CommonJS.
    files: [".dependency-cruiser.cjs"],
    languageOptions: { sourceType: "commonjs", globals: { module: "writable" } },
  },
);
