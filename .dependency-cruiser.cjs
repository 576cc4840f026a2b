/*
 * The layers of src/, checked by `npm run lint` (ARCHITECTURE.md draws them). Each folder may
 * import only the folders below it; anything not allowed here fails. Top to bottom:
 *
 *   main.ts, cli/                      entry points
 *   app.ts, api/, git/, dashboard/,    the HTTP server's routes (dashboard/ takes only the JSON replies,
 *   buildpack-test/                    http-json.ts, of api/) and the buildpack authors' runner
 *   builds/, images/                   the build session, caches, containers, queue, service; release images
 *                                      (neither imports the other: main.ts joins them)
 *   auth/, buildpacks/, slug/, host/, stack/, webhooks/, runs/ (one-off processes of a release),
 *   nodes/ (this process among the nodes sharing one store)
 *   store/, docker/                    the metadata store and the engine adapter
 *   errors.ts, log.ts, names.ts, build-status.ts, config/, util/, gitcli/   the ground floor
 *
 * git/ reaches builds/ only through builds/types.ts: the Builder interface it calls.
 */
const GROUND = "^src/(errors|log|names|build-status)\\.ts$|^src/(config|util|gitcli)/";
const layer = (from, ...to) => ({ from: { path: from }, to: { path: [GROUND, ...to].join("|") } });

module.exports = {
  allowed: [
    // Outside src/: node's own modules and packages (which package where: the forbidden rules below).
    { from: {}, to: { dependencyTypes: ["core", "npm", "npm-dev", "npm-optional", "npm-peer", "npm-no-pkg", "npm-unknown"] } },
    // Within a folder, and from tests and benchmarks to anything.
    { from: { path: "^src/([^/]+)/" }, to: { path: "^src/$1/" } },
    { from: { path: "^(test|bench)/" }, to: {} },
    layer(GROUND),
    layer("^src/docker/"),
    layer("^src/store/"),
    layer("^src/(slug|buildpacks)/"),
    layer("^src/auth/", "^src/store/"),
    layer("^src/webhooks/", "^src/store/"),
    layer("^src/(host|stack)/", "^src/docker/"),
    layer("^src/runs/", "^src/docker/"),
    layer("^src/nodes/", "^src/(docker|store)/"),
    layer("^src/builds/", "^src/(docker|store|slug|buildpacks|webhooks|runs)/"),
    layer("^src/images/", "^src/(docker|store|slug|stack)/"),
    layer("^src/git/", "^src/(auth|store)/", "^src/builds/types\\.ts$"),
    layer("^src/api/", "^src/(auth|store|slug|webhooks|runs)/"),
    layer("^src/dashboard/", "^src/auth/", "^src/api/http-json\\.ts$"),
    layer("^src/buildpack-test/", "^src/(builds|buildpacks|slug|docker)/"),
    layer("^src/app\\.ts$"),
    layer("^src/main\\.ts$", "^src/(app\\.ts|api/|git/|dashboard/|builds/|images/|auth/|slug/|store/|docker/|webhooks/|runs/|nodes/)"),
    layer("^src/cli/", "^src/(main\\.ts|buildpack-test/|host/|stack/|docker/|runs/)"),
  ],
  allowedSeverity: "error",
  forbidden: [
    { name: "no-cycles", severity: "error", from: {}, to: { circular: true } },
    // Each third-party library stays in its adapter (STYLE.md, habit 1).
    { name: "dockerode-in-its-adapter", severity: "error", from: { path: "^src/", pathNot: "^src/docker/dockerode-runtime\\.ts$" }, to: { path: "node_modules/dockerode/" } },
    { name: "sqlite-in-the-store", severity: "error", from: { path: "^src/", pathNot: "^src/store/" }, to: { path: "node_modules/better-sqlite3/" } },
    { name: "aws-sdk-in-its-adapter", severity: "error", from: { path: "^src/", pathNot: "^src/slug/s3-bucket\\.ts$" }, to: { path: "node_modules/@aws-sdk/" } },
    { name: "pg-in-the-store", severity: "error", from: { path: "^src/", pathNot: "^src/store/postgres-" }, to: { path: "node_modules/(pg|pg-[a-z-]+)/" } },
    { name: "pino-in-log", severity: "error", from: { path: "^src/", pathNot: "^src/log\\.ts$" }, to: { path: "node_modules/pino/" } },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    // Type-only imports count: a layer must not know the types of the one above it either.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    exclude: { path: "^dist/" },
    // Packages that export ESM only (p-queue) resolve through their "import" condition.
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default"], mainFields: ["module", "main", "types"] },
  },
};
