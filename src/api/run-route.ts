import type { Readable, Writable } from "node:stream";
import { Writable as WritableStream } from "node:stream";
import type { Logger } from "../log.js";
import { decodeSpec, exitFrame, FRAME, frame, RUN_CONTENT_TYPE, RUN_SPEC_HEADER, type RunSpec } from "../runs/run-protocol.js";
import type { MetadataStore, ReleaseRecord } from "../store/types.js";
import { fail } from "./http-json.js";
import type { RouteContext } from "./router.js";

/** Starts a one-off process of a release (main.ts: runs/one-off.ts) and resolves with its exit code. */
export type StartRun = (
  run: { readonly app: string; readonly release: ReleaseRecord; readonly spec: RunSpec },
  io: { readonly stdin: Readable; readonly stdout: Writable; readonly stderr: Writable },
  signal: AbortSignal,
) => Promise<number>;

/**
 * `POST /api/apps/:app/run`: a one-off process of a release (the current one, or `release`), its
 * stdin the request's body, its output and exit code framed in the response (runs/run-protocol.ts),
 * over this one connection. The process goes when the client does.
 */
export async function runRoute(ctx: RouteContext, app: string, store: MetadataStore, start: StartRun | undefined, log: Logger): Promise<void> {
  if (!start) fail("BAD_REQUEST", "this server cannot run processes");
  if (!(ctx.req.headers["content-type"] ?? "").startsWith(RUN_CONTENT_TYPE)) fail("BAD_REQUEST", `send Content-Type: ${RUN_CONTENT_TYPE}`);
  const spec = decodeSpec(ctx.req.headers[RUN_SPEC_HEADER] as string | undefined);
  if (typeof spec === "string") fail("BAD_REQUEST", spec);
  const release = spec.release === undefined ? (await store.listReleases(app))[0] : await store.getRelease(app, spec.release);
  if (!release) fail("NOT_FOUND", spec.release === undefined ? `${app} has no release to run yet; push first` : `${app} has no release v${spec.release}`);
  if (!release.slugId) fail("NOT_FOUND", `release v${release.version} of ${app} has no slug to run`);

  const gone = new AbortController();
  ctx.res.on("close", () => gone.abort(new Error("the client went away")));
  ctx.res.writeHead(200, { "Content-Type": `${RUN_CONTENT_TYPE}-output`, "Cache-Control": "no-store", "X-Accel-Buffering": "no" });
  ctx.res.flushHeaders();
  const framed = (type: typeof FRAME.stdout | typeof FRAME.stderr): Writable =>
    new WritableStream({
      write(chunk: Buffer, _enc, done) {
        if (ctx.res.destroyed || ctx.res.writableEnded) return done();
        if (ctx.res.write(frame(type, chunk))) return done();
        ctx.res.once("drain", () => done());
      },
    });
  let code: number;
  try {
    code = await start({ app, release, spec }, { stdin: ctx.req, stdout: framed(FRAME.stdout), stderr: framed(FRAME.stderr) }, gone.signal);
  } catch (err) {
    if (gone.signal.aborted) return;
    log.warn({ err, app }, "a one-off run failed");
    if (!ctx.res.writableEnded) ctx.res.write(frame(FRAME.error, err instanceof Error ? err.message : String(err)));
    code = 1;
  }
  if (!ctx.res.writableEnded && !ctx.res.destroyed) ctx.res.end(exitFrame(code));
}
