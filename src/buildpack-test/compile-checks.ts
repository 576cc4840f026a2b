import { Writable } from "node:stream";
import { BUILD_DIR, buildEnv, captureInBuild, Collected } from "../builds/container-exec.js";
import type { BuildSession } from "../builds/session.js";
import type { InstalledBuildpack, StepContext } from "../builds/steps/step.js";
import type { FileChange } from "../docker/container-runtime.js";

/** What the contract checks around one compile found. */
export interface CompileChecks {
  /** Paths written outside BUILD_DIR and the scratch /tmp (where CACHE_DIR and ENV_DIR live). */
  writesOutside: string[];
  /** Buildpacks whose `export` file cannot be sourced, with what bash said. */
  exportErrors: string[];
  /** After a failed compile: whether CACHE_DIR was changed (those changes are never kept). */
  cacheNote?: string;
  /** The compile's own time, without the checks around it (cold and warm are compared on it). */
  compileMs?: number;
}

/** Where a buildpack may write: the app, and /tmp (CACHE_DIR, ENV_DIR, its own dir, scratch files). */
const ALLOWED = [BUILD_DIR, "/tmp"];

/**
 * The session's compile with the contract checks around it: the container's `docker diff` before
 * and after (writes elsewhere are lost when the slug is made), each buildpack's `export` sourced in
 * bash, and on failure whether CACHE_DIR changed.
 */
export async function checkedCompile(session: BuildSession, buildpacks: readonly InstalledBuildpack[], checks: CompileChecks): Promise<void> {
  const before = new Set((await session.container.changes()).map((c) => c.path));
  const cacheBefore = await session.run("compile-checks", (step) => cacheFingerprint(step, buildpacks));
  const started = Date.now();
  try {
    await session.compile(buildpacks);
    checks.compileMs = Date.now() - started;
  } catch (err) {
    checks.compileMs = Date.now() - started;
    const changed = await session.run("compile-checks", async (step) => (await cacheFingerprint(step, buildpacks)) !== cacheBefore).catch(() => undefined);
    if (changed !== undefined) {
      checks.cacheNote = changed
        ? "compile failed after changing CACHE_DIR; those changes are dropped (a cache is kept only when the build succeeds), so do not rely on them"
        : "compile failed and left CACHE_DIR untouched";
    }
    throw err;
  }
  checks.writesOutside = outsideWrites(await session.container.changes(), before);
  checks.exportErrors = await session.run("compile-checks", (step) => exportErrors(step, buildpacks));
}

/** The writes that matter, shortest first: an added folder stands for what is in it. */
export function outsideWrites(changes: readonly FileChange[], before: ReadonlySet<string>): string[] {
  const inAllowed = (p: string): boolean => ALLOWED.some((a) => p === a || p.startsWith(`${a}/`));
  const fresh = changes.filter((c) => !before.has(c.path) && !inAllowed(c.path));
  const added = new Set(fresh.filter((c) => c.kind === "added").map((c) => c.path));
  const parentOf = (p: string): string => p.slice(0, p.lastIndexOf("/")) || "/";
  const kept = fresh.filter((c) => {
    if (added.has(parentOf(c.path))) return false;
    // A changed folder that only holds other reported writes says nothing new.
    if (c.kind === "changed" && fresh.some((o) => o.path.startsWith(`${c.path}/`))) return false;
    return true;
  });
  return kept.map((c) => `${c.path} (${c.kind})`).sort();
}

async function cacheFingerprint(ctx: StepContext, buildpacks: readonly InstalledBuildpack[]): Promise<string> {
  const dirs = buildpacks.map((b) => b.cacheDir);
  if (dirs.length === 0) return "";
  const script = `for d in "$@"; do find "$d" -printf '%P %y %s %T@ %m\\n' 2>/dev/null | LC_ALL=C sort; done | sha256sum`;
  const result = await captureInBuild(ctx, ["bash", "-c", script, "fingerprint", ...dirs], buildEnv(ctx));
  return result.stdout.trim();
}

async function exportErrors(ctx: StepContext, buildpacks: readonly InstalledBuildpack[]): Promise<string[]> {
  const errors: string[] = [];
  const script = `f="$1/export"; [ -f "$f" ] || exit 0; set -e; . "$f"`;
  for (const bp of buildpacks) {
    const stderr = collect();
    const result = await captureInBuild(ctx, ["bash", "-c", script, "export", bp.dir], buildEnv(ctx, { CACHE_DIR: bp.cacheDir }), stderr.stream);
    if (result.code !== 0) {
      errors.push(`${bp.spec}: its export file cannot be sourced (bash exited with ${result.code}${stderr.text() ? `: ${stderr.text().trim()}` : ""})`);
    }
  }
  return errors;
}

function collect(): { stream: Writable; text(): string } {
  const stream = new Collected(2000);
  return { stream, text: () => stream.text() };
}
