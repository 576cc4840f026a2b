import http from "node:http";
import https from "node:https";
import { encodeSpec, FRAME, FrameReader, RUN_CONTENT_TYPE, RUN_SPEC_HEADER, type FrameType, type RunSpec } from "../runs/run-protocol.js";

export const RUN_USAGE = "run APP [--release vN] [--port P] [--json] [--] COMMAND...";
export const RUN_HELP = `Usage: slugforge ${RUN_USAGE}

Runs a one-off process of APP's current release (or --release vN) on the run image, with that
release's config vars, as a Heroku one-off dyno: COMMAND is a process type from the Procfile
(web, worker, ...) or any command (python manage.py shell). stdin, stdout and stderr are streamed
over one connection to the server, a terminal is used when this one is, and the exit code is the
command's. The process stops when this command does (Ctrl-C).

  --release vN   run that release instead of the current one
  --port P       publish the process's $PORT on 127.0.0.1:P of the server's host (a local
                 preview: slugforge run my-app web --port 8080)
  --json         print the output as JSON lines ({"stream":"stdout","data":...}) and the exit code last

Needs the admin token: a one-off process gets the release's config vars.`;

interface ParsedRun {
  readonly app: string;
  readonly spec: RunSpec;
  readonly json: boolean;
}

/**
 * The command line after `run`, or a usage problem. slugforge's own options may come before or
 * after the process type (`run my-app web --port 8080`); anything else is the command's, and
 * everything after `--` is the command's whatever it looks like (`run my-app -- tool --port 5`).
 */
export function parseRunArgs(args: readonly string[]): ParsedRun | string {
  const [app, ...rest] = args;
  if (!app || app.startsWith("-")) return "name the app to run";
  let release: number | undefined;
  let port: number | undefined;
  let json = false;
  const command: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (arg === "--") {
      command.push(...rest.slice(i + 1));
      break;
    }
    if (arg === "--json") json = true;
    else if (arg === "--release" || arg === "--port") {
      const value = rest[++i];
      if (value === undefined) return `${arg} needs a value`;
      if (arg === "--release") {
        if (!/^v?[1-9]\d*$/.test(value)) return `--release takes a release such as v3, not "${value}"`;
        release = Number(value.replace(/^v/, ""));
      } else {
        if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 65535) return `--port takes a port (1-65535), not "${value}"`;
        port = Number(value);
      }
    } else if (arg.startsWith("-") && command.length === 0) return `unknown option ${arg} (put the command after --)`;
    else command.push(arg);
  }
  if (command.length === 0) return "name a process type or a command to run";
  return { app, spec: { args: command, release, port }, json };
}

/** Runs it through the server; resolves with the process's exit code. */
export async function runCommand(parsed: ParsedRun, server: { url: string; token: string }, stdio = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const tty = !parsed.json && Boolean(stdio.stdin.isTTY && stdio.stdout.isTTY);
  const spec: RunSpec = { ...parsed.spec, tty };
  const url = new URL(`/api/apps/${encodeURIComponent(parsed.app)}/run`, server.url);
  const client = url.protocol === "https:" ? https : http;
  if (spec.port !== undefined && !parsed.json) stdio.stderr.write(`Serving on http://127.0.0.1:${spec.port} (on the server's host) until Ctrl-C\n`);
  return new Promise<number>((resolve, reject) => {
    const req = client.request(url, {
      method: "POST",
      headers: { Authorization: `Bearer ${server.token}`, "Content-Type": RUN_CONTENT_TYPE, [RUN_SPEC_HEADER]: encodeSpec(spec), "Transfer-Encoding": "chunked" },
    });
    const restore = (): void => {
      if (tty && stdio.stdin.isTTY) stdio.stdin.setRawMode(false);
      stdio.stdin.unpipe(req);
      stdio.stdin.pause();
    };
    req.on("error", (err) => {
      restore();
      reject(new Error(`cannot reach the slugforge server at ${server.url} (${err.message})`));
    });
    req.on("response", (res) => {
      if (res.statusCode !== 200) {
        let text = "";
        res.on("data", (b: Buffer) => (text += b.toString()));
        res.on("end", () => {
          restore();
          let message = text;
          try {
            const e = JSON.parse(text) as { id?: string; message?: string };
            message = `error ${e.id}: ${e.message}`;
          } catch {
            // not JSON: as it came
          }
          stdio.stderr.write(`${message.trim()}\n`);
          resolve(1);
        });
        return;
      }
      let code = 1;
      const frames = res.pipe(new FrameReader());
      frames.on("data", ({ type, payload }: { type: FrameType; payload: Buffer }) => {
        if (type === FRAME.exit) code = payload.readInt32BE(0);
        if (parsed.json) {
          const stream = type === FRAME.stdout ? "stdout" : type === FRAME.stderr ? "stderr" : type === FRAME.error ? "error" : undefined;
          if (stream) stdio.stdout.write(`${JSON.stringify({ stream, data: payload.toString("utf8") })}\n`);
          else stdio.stdout.write(`${JSON.stringify({ exitCode: code })}\n`);
        } else if (type === FRAME.stdout) stdio.stdout.write(payload);
        else if (type === FRAME.stderr) stdio.stderr.write(payload);
        else if (type === FRAME.error) stdio.stderr.write(`slugforge run: ${payload.toString("utf8")}\n`);
      });
      frames.on("error", (err) => {
        restore();
        reject(err);
      });
      frames.on("end", () => {
        restore();
        resolve(code);
      });
    });
    // Now, not at stdin's first bytes: a process that reads no input must start at once.
    req.flushHeaders();
    if (tty && stdio.stdin.isTTY) stdio.stdin.setRawMode(true);
    // stdin goes as the request's body; its end ends the process's stdin.
    stdio.stdin.pipe(req);
  });
}
