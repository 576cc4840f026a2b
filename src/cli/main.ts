import path from "node:path";
import { fileURLToPath } from "node:url";
import { readAdminToken } from "../config/admin-token.js";
// The server, the engine's client and the stack builder are imported by the commands that use
// them: a command that only talks to the API (releases, run) starts without loading them.
import { parseConfig } from "../config/parse-config.js";
import { isSlugforgeError } from "../errors.js";
import { LABELS, stackNames } from "../stack/recipes.js";
import { ApiError, createApiClient } from "./api-client.js";
import { API_COMMANDS, CommandError, UsageError } from "./api-commands.js";
import { relativeTime, formatBytes } from "./format.js";
import { formatCommandList, formatUsage, helpWidth, wrap, type HelpEntry } from "./help.js";
import { colorEnabled, createStyle, type Style } from "./style.js";
import { formatTable, type Column } from "./table.js";
import { openHandles } from "../util/open-handles.js";
import { parseRunArgs, runCommand, RUN_HELP, RUN_USAGE } from "./run-command.js";

const SERVER_COMMANDS: readonly HelpEntry[] = [
  { usage: "serve", summary: "start the server (PORT, SLUGFORGE_DATA, SLUGFORGE_TOKEN, ...)" },
  { usage: "setup [--no-stack]", summary: "make sure a Docker engine answers and the stack images exist" },
  { usage: "stack build [name] [--force]", summary: "make the stack's build and run images from Debian packages" },
  { usage: "stack ls [--json]", summary: "list stack images" },
  { usage: "image build [--base IMAGE] [--tag NAME]...", summary: "build slugforge's own server image from the checkout's Dockerfile (npm run image; README, \"Run as a container\")" },
  { usage: "buildpack test <buildpack> <sample>...", summary: "run a buildpack against sample apps (no server needed)" },
];

/** `run` talks to the server like the API commands, but streams: it has its own entry in the help. */
const RUN_ENTRY: HelpEntry = { usage: RUN_USAGE, summary: "run a one-off process of a release (a process type or a command)" };

function usage(width: number): string {
  const commands = formatCommandList(
    [
      { title: "Server and host:", entries: SERVER_COMMANDS },
      { title: "Apps, builds, slugs and releases (talk to a running server: SLUGFORGE_URL, SLUGFORGE_TOKEN):", entries: [...Object.values(API_COMMANDS), RUN_ENTRY] },
    ],
    width,
  );
  return `Usage: slugforge <command> [options]\n\n${commands}\n\nExit codes: 0 success, 1 the command failed, 2 wrong usage.\nRun \`slugforge <command> --help\` for a command's options.`;
}

type Say = (line: string) => void;

/** Colours for a stream of this process (stdout for output, stderr for errors). */
const styleFor = (stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv, json = false): Style => createStyle(colorEnabled(stream, env, json));
const width = (): number => helpWidth(process.stdout.isTTY ? process.stdout.columns : undefined);

/** The checkout (or installed package) this command runs from: dist/cli/ is two folders down. */
const REPO_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Runs one CLI command; resolves with the exit code. */
export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const say: Say = (line) => console.log(line);
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case "help":
      case "--help":
      case "-h":
        say(usage(width()));
        return command === undefined ? 2 : 0;
      case "serve":
        return await serve(env, say);
      case "setup":
        return await setup(rest, env, say);
      case "stack":
        return await stack(rest, env, say);
      case "run":
        return await run(rest, env);
      case "image":
        return await image(rest, env, say);
      case "buildpack":
        if (rest[0] === "test") return await (await import("./buildpack-test-command.js")).runBuildpackTestCommand(rest.slice(1), env);
        console.error("Usage: slugforge buildpack test <buildpack> <sample>... (see --help)");
        return 2;
      default:
        if (API_COMMANDS[command]) return await apiCommand(command, rest, env);
        console.error(`slugforge: unknown command "${command}"\n\n${usage(width())}`);
        return 2;
    }
  } catch (err) {
    if (isSlugforgeError(err)) {
      console.error(`${styleFor(process.stderr, env).red(`error ${err.code}`)}: ${err.message}\n  ${err.hint}`);
      return 1;
    }
    throw err;
  }
}

async function apiCommand(name: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const spec = API_COMMANDS[name]!;
  if (args.includes("--help") || args.includes("-h")) {
    const about = `${spec.summary.charAt(0).toUpperCase()}${spec.summary.slice(1)}.\n\nServer: SLUGFORGE_URL (default http://127.0.0.1:$PORT), token: SLUGFORGE_TOKEN (default: the data folder's token file).`;
    console.log(`${formatUsage(spec.usage, width())}\n\n${wrap(about, width()).join("\n")}`);
    return 0;
  }
  const json = args.includes("--json");
  const flags: Record<string, string> = {};
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (arg === "--json") continue;
    if (m && spec.flags?.includes(m[1]!)) {
      const value = m[2] ?? args[++i];
      if (value === undefined) {
        console.error(`--${m[1]} needs a value\nUsage: slugforge ${spec.usage}`);
        return 2;
      }
      flags[m[1]!] = value;
    } else positional.push(arg);
  }
  const unknown = positional.find((a) => a.startsWith("--"));
  if (unknown || positional.length < spec.min) {
    console.error(`${unknown ? `unknown option ${unknown}\n` : ""}Usage: slugforge ${spec.usage}`);
    return 2;
  }
  const server = serverOf(env);
  if (!server) return 2;
  const { url, token } = server;
  try {
    const io = { out: (t: string) => console.log(t), raw: process.stdout, json, flags, style: styleFor(process.stdout, env, json) };
    return await spec.run(createApiClient(url, token), positional, io);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`${err.message}\nUsage: slugforge ${spec.usage}`);
      return 2;
    }
    if (err instanceof ApiError) {
      console.error(`${styleFor(process.stderr, env, json).red(`error ${err.id}`)}: ${err.message}`);
      return 1;
    }
    if (err instanceof CommandError) {
      console.error(err.message);
      return 1;
    }
    throw err;
  }
}

/** The server the app commands talk to (SLUGFORGE_URL) and the token (SLUGFORGE_TOKEN or the data folder's); undefined when there is none (said on stderr). */
function serverOf(env: NodeJS.ProcessEnv): { url: string; token: string } | undefined {
  const config = settings(env);
  const url = env.SLUGFORGE_URL || `http://127.0.0.1:${config.port}`;
  const token = readAdminToken(config) ?? "";
  if (!token) {
    console.error("no API token: set SLUGFORGE_TOKEN (the server printed one on its first start, and keeps it in its data folder)");
    return undefined;
  }
  return { url, token };
}

async function run(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(RUN_HELP);
    return 0;
  }
  const parsed = parseRunArgs(args);
  if (typeof parsed === "string") {
    console.error(`${parsed}\nUsage: slugforge ${RUN_USAGE}`);
    return 2;
  }
  const server = serverOf(env);
  if (!server) return 2;
  try {
    return await runCommand(parsed, server);
  } catch (err) {
    console.error(`slugforge run: ${(err as Error).message}`);
    return 1;
  }
}

function settings(env: NodeJS.ProcessEnv) {
  const parsed = parseConfig(env);
  if (parsed.errors) {
    throw new Error(`the settings are not usable:\n  ${parsed.errors.join("\n  ")}`);
  }
  return parsed.config;
}

/**
 * The first SIGTERM or SIGINT stops taking pushes and lets running builds finish for up to
 * SLUGFORGE_STOP_GRACE; a second one, or the end of the grace, cancels them (their pushes are
 * rejected, the builds recorded as cancelled). A build a kill -9 cuts short is marked INTERRUPTED
 * at the next start.
 */
async function serve(env: NodeJS.ProcessEnv, say: Say): Promise<number> {
  const { startServer } = await import("../main.js");
  const server = await startServer(env, say);
  const signals = ["SIGINT", "SIGTERM"] as const;
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      for (const s of signals) process.off(s, stop);
      resolve();
    };
    for (const s of signals) process.on(s, stop);
  });
  const cut = new AbortController();
  const grace = setTimeout(() => {
    say("stopping: the grace period is over; cancelling the builds still running");
    cut.abort();
  }, server.stopGraceMs);
  const now = (): void => {
    say("stopping: second signal; cancelling the builds still running");
    cut.abort();
  };
  for (const s of signals) process.once(s, now);
  say(`stopping: no new pushes; running builds may finish for up to ${Math.round(server.stopGraceMs / 1000)} s (signal again to cancel them now)`);
  try {
    await server.stop(cut.signal);
  } finally {
    clearTimeout(grace);
    for (const s of signals) process.off(s, now);
  }
  say("stopped");
  // Everything is closed: the process ends as its event loop empties. Something still open then
  // (a leak) must not keep a stopped server from exiting: it is named, and the process exits.
  setTimeout(() => {
    console.error(`slugforge: stopped, but still open after ${STOPPED_EXIT_MS / 1000} s: ${openHandles().join("; ")}; exiting`);
    process.exit(0);
  }, STOPPED_EXIT_MS).unref();
  return 0;
}

/** How long a stopped server may take to exit on its own. */
const STOPPED_EXIT_MS = 5000;

async function setup(args: string[], env: NodeJS.ProcessEnv, say: Say): Promise<number> {
  const { setupCommand } = await import("./setup-command.js");
  return setupCommand(args, settings(env), env, say);
}

async function stack(args: string[], env: NodeJS.ProcessEnv, say: Say): Promise<number> {
  const [sub, ...rest] = args;
  const config = settings(env);
  const [{ createDockerRuntime }, { buildStack, shortId }] = await Promise.all([import("../docker/dockerode-runtime.js"), import("../stack/build-stack.js")]);
  const runtime = createDockerRuntime({ dockerHost: config.dockerHost });
  if (sub === "build") {
    if (rest.includes("--help")) {
      say(`Usage: slugforge stack build [name] [--force]\n\nStacks: ${stackNames().join(", ")} (default ${config.stack}).`);
      return 0;
    }
    const name = rest.find((a) => !a.startsWith("--")) ?? config.stack;
    await runtime.ping();
    await buildStack(name, {
      runtime,
      workDir: path.join(config.dataDir, "stack"),
      say,
      force: rest.includes("--force"),
      mirror: env.SLUGFORGE_DEBIAN_MIRROR,
    });
    return 0;
  }
  if (sub === "ls") {
    const images = await runtime.listImages("slugforge/stack");
    const labelled = images.map((image) => ({
      ...image,
      stack: image.labels[LABELS.stack] ?? "?",
      role: image.labels[LABELS.role] ?? "?",
      tag: image.tags[0] ?? "",
      recipe: image.labels[LABELS.recipe] ?? "",
    }));
    if (rest.includes("--json")) {
      // Kept as it was (scripts read it): whole MB by 1000s and a short age.
      const rows = labelled.map((i) => ({ stack: i.stack, role: i.role, image: i.tag, id: shortId(i.id), sizeMB: Math.round(i.sizeBytes / 1e6), age: formatAge(i.createdAt), recipe: i.recipe }));
      say(JSON.stringify(rows, null, 2));
    } else if (labelled.length === 0) say("no stack images; run `slugforge stack build`");
    else {
      const columns: Column<(typeof labelled)[number]>[] = [
        { header: "Stack", value: (i) => i.stack },
        { header: "Role", value: (i) => i.role },
        { header: "Image", value: (i) => i.tag },
        { header: "ID", value: (i) => shortId(i.id) },
        { header: "Size", value: (i) => formatBytes(i.sizeBytes) },
        { header: "Created", value: (i) => relativeTime(i.createdAt) },
        { header: "Recipe", value: (i) => i.recipe },
      ];
      say(formatTable(labelled, columns, styleFor(process.stdout, env)));
    }
    return 0;
  }
  console.error(`Usage: slugforge stack build [name] | slugforge stack ls [--json]`);
  return 2;
}

/** `slugforge image build`: the server image, from the checkout this command runs from. */
async function image(args: string[], env: NodeJS.ProcessEnv, say: Say): Promise<number> {
  const [sub, ...rest] = args;
  const [{ createDockerRuntime }, { DEFAULT_BASE_IMAGE, buildServerImage }] = await Promise.all([import("../docker/dockerode-runtime.js"), import("../stack/server-image.js")]);
  if (sub !== "build" || rest.includes("--help")) {
    (sub === "build" ? say : console.error)(`Usage: slugforge image build [--base IMAGE] [--tag NAME]...

Builds slugforge/server:<version> and :latest from the Dockerfile of this checkout (run
\`npm run image\`, which builds dist/ and the stack images first). The base is ${DEFAULT_BASE_IMAGE} where
the engine has it or can pull it, else slugforge/node-base, made here from Debian packages.
--base uses another image as it is; each --tag replaces the default names.`);
    return sub === "build" ? 0 : 2;
  }
  const flag = (name: string): string[] => rest.flatMap((a, i) => (a === `--${name}` && rest[i + 1] ? [rest[i + 1]!] : a.startsWith(`--${name}=`) ? [a.slice(name.length + 3)] : []));
  const config = settings(env);
  const runtime = createDockerRuntime({ dockerHost: config.dockerHost });
  await runtime.ping();
  const tags = flag("tag");
  await buildServerImage({
    runtime,
    repoDir: REPO_DIR,
    workDir: path.join(config.dataDir, "stack"),
    say,
    base: flag("base")[0],
    tags: tags.length > 0 ? tags : undefined,
    mirror: env.SLUGFORGE_DEBIAN_MIRROR,
  });
  return 0;
}

function formatAge(date: Date): string {
  const s = Math.max(0, (Date.now() - date.getTime()) / 1000);
  if (s < 120) return `${Math.round(s)}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}
