import path from "node:path";
import type { Builder, BuildOutput } from "../builds/types.js";
import { errorLine, isSlugforgeError, type ErrorCode } from "../errors.js";
import { readRef, setSymbolicRef } from "../gitcli/refs.js";
import type { Logger } from "../log.js";
import type { DiskGuard } from "../util/disk-space.js";
import type { AppLocks } from "./app-lock.js";
import { isZeroSha, type HookRequest } from "./hook-protocol.js";
import type { PushSession } from "./push-sessions.js";
import { decidePush } from "./ref-policy.js";

export interface GateDeps {
  readonly builder: Builder;
  readonly locks: AppLocks;
  readonly log: Logger;
  /** Refuses the build (STORAGE_FULL) while the data folder's disk is under its reserve. */
  readonly disk?: DiskGuard;
}

/** ok: let git update the ref. fail: reject the push; code names why. */
export type GateOutcome = { readonly ok: true } | { readonly ok: false; readonly code: ErrorCode };

/**
 * Decides one push from inside its pre-receive hook: policy, then the app's lock, then a check
 * that the branch is still where the pusher saw it, then the build. `write` goes to the pusher.
 */
export async function gatePush(deps: GateDeps, session: PushSession, hook: HookRequest, write: (text: string) => void): Promise<GateOutcome> {
  const log = deps.log.child({ app: session.app, push: session.id });
  // docs/errors.md: the last line of every refused push names its code, so it is written here only.
  const fail = (code: ErrorCode, details: readonly string[], summary: string): GateOutcome => {
    for (const line of [...details, errorLine(code, summary)]) write(`!     ${line}\n`);
    return { ok: false, code };
  };
  if (hook.app !== session.app || !sourceInside(session.gitDir, hook)) {
    log.warn({ hookApp: hook.app }, "hook call does not match its push");
    return fail("INTERNAL", [], "this hook call does not match the push; rejected.");
  }
  const source = {
    gitDir: session.gitDir,
    objectDirectory: hook.objectDirectory,
    alternateObjectDirectories: hook.alternateObjectDirectories,
    quarantinePath: hook.quarantinePath,
  };
  // A push of one branch: the builder may start reading its commit while the push is checked and
  // the app locked (a refused push wastes that one read).
  const [only] = hook.refs;
  if (hook.refs.length === 1 && only && !isZeroSha(only.new) && only.ref.startsWith("refs/heads/")) deps.builder.pushed?.({ source, commit: only.new }, session.signal);
  const decision = decidePush(await branches(session.gitDir), hook.refs);
  if (decision.kind === "noop") return { ok: true };
  if (decision.kind === "refuse") return fail(decision.code, decision.lines, decision.summary);
  const update = decision.update;
  // The pack is in quarantine (dropped when the push is refused); the build would write a slug.
  const full = await deps.disk?.check("This push").then(() => undefined, (err: unknown) => err);
  if (full !== undefined) {
    if (!isSlugforgeError(full)) throw full;
    log.warn({ data: full.data }, "push refused: the disk is full");
    return fail(full.code, [], `${full.message} ${full.hint}`);
  }

  let release: () => void;
  try {
    release = await deps.locks.acquire(session.app, {
      signal: session.signal,
      onQueued: (position) => write(`-----> Waiting for another push to ${session.app} to finish (position ${position})\n`),
      onWaitingElsewhere: () => write(`-----> Waiting for a push to ${session.app} on another node to finish\n`),
    });
  } catch (err) {
    if (session.signal.aborted) return fail("BUILD_CANCELLED", [], "the push was interrupted while it waited; nothing was built.");
    // The shared lock's store is away: say so rather than pretend the push was interrupted.
    const known = isSlugforgeError(err) ? err : undefined;
    log.error({ err }, "could not take the app's shared push lock");
    return fail(known?.code ?? "INTERNAL", [], known ? `${known.message} ${known.hint}` : "the app's push lock could not be taken; nothing was built. Push again.");
  }
  // Held until receive-pack exits, so the ref update is inside the lock too.
  void session.closed.then(release);

  const current = await readRef(session.gitDir, update.ref);
  const expected = isZeroSha(update.old) ? undefined : update.old;
  if (current !== expected) {
    const name = update.ref.replace(/^refs\/heads\//, "");
    return fail(
      "REF_MOVED",
      [`${name} changed on the server while this push waited (it is now ${current ? current.slice(0, 7) : "gone"}).`],
      `nothing was built. Fetch and push again: git pull --rebase <remote> ${name} && git push <remote> HEAD:${name}`,
    );
  }

  const output: BuildOutput = {
    write: (chunk) => write((typeof chunk === "string" ? chunk : chunk.toString("utf8")).replaceAll("\0", "")),
  };
  log.info({ ref: update.ref, commit: update.new }, "building push");
  try {
    const result = await deps.builder.build(
      {
        app: session.app,
        commit: update.new,
        ref: update.ref,
        source,
        pushOptions: hook.pushOptions,
        actor: session.actor,
      },
      output,
      session.signal,
    );
    log.info({ buildId: result.buildId, status: result.status }, "build finished");
    if (result.status === "succeeded" && result.dryRun) {
      const slug = result.slug ? ` made slug ${result.slug.id}` : "";
      return fail("DRY_RUN", [], `the build succeeded and${slug}, but this was a dry run: nothing was released and ${update.ref.replace(/^refs\/heads\//, "")} did not move (build ${result.buildId})`);
    }
    if (result.status === "succeeded") {
      await pointHeadAt(session.gitDir, update.ref);
      return { ok: true };
    }
    const code = result.error?.code ?? (result.status === "cancelled" ? "BUILD_CANCELLED" : "INTERNAL");
    const message = result.error?.message ?? (result.status === "cancelled" ? "the build was cancelled" : "the build failed");
    return fail(code, [], `${message} (build ${result.buildId})`);
  } catch (err) {
    log.error({ err }, "builder threw");
    return fail("INTERNAL", [], `the build could not run; the operator log has details (push ${session.id}).`);
  }
}

/** The quarantine paths the hook reports must be this repo's, not some other directory. */
function sourceInside(gitDir: string, hook: HookRequest): boolean {
  const root = path.resolve(gitDir) + path.sep;
  const inside = (p: string | undefined): boolean => p === undefined || p === "" || path.resolve(gitDir, p).startsWith(root);
  const alternates = (hook.alternateObjectDirectories ?? "").split(":").filter(Boolean);
  return inside(hook.objectDirectory) && inside(hook.quarantinePath) && alternates.every((a) => inside(a)) && path.resolve(hook.cwd) === path.resolve(gitDir);
}

async function branches(gitDir: string): Promise<{ hasMain: boolean; hasMaster: boolean }> {
  const [main, master] = await Promise.all([readRef(gitDir, "refs/heads/main"), readRef(gitDir, "refs/heads/master")]);
  return { hasMain: main !== undefined, hasMaster: master !== undefined };
}

/** Repos start with HEAD on main; one that deploys master gets HEAD there so clones check it out. */
async function pointHeadAt(gitDir: string, ref: string): Promise<void> {
  if (ref !== "refs/heads/master") return;
  await setSymbolicRef(gitDir, "HEAD", ref);
}
