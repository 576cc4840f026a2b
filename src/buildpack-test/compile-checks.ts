import { Writable } from "node:stream";
import { containerOf, type BuildContext, type Phase } from "../build/build-context.js";
import { BUILD_DIR, buildEnv, captureInBuild, Collected } from "../build/container-exec.js";
import { compilePhase } from "../build/phases/compile-phase.js";
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
 * build/'s compile phase with the contract checks around it: the container's `docker diff`
 * before and after (writes elsewhere are lost when the slug is made), each buildpack's `export`
 * sourced in bash, and on failure whether CACHE_DIR changed.
 */
export function checkedCompile(checks: CompileChecks): Phase {
  return {
    name: compilePhase.name,
    async run(ctx) {
      const container = containerOf(ctx);
      const before = new Set((await container.changes()).map((c) => c.path));
      const cacheBefore = await cacheFingerprint(ctx);
      const started = Date.now();
      try {
        await compilePhase.run(ctx);
        checks.compileMs = Date.now() - started;
      } catch (err) {
        checks.compileMs = Date.now() - started;
        if (!ctx.signal.aborted) {
          const changed = (await cacheFingerprint(ctx)) !== cacheBefore;
          checks.cacheNote = changed
            ? "compile failed after changing CACHE_DIR; those changes are dropped (a cache is kept only when the build succeeds), so do not rely on them"
            : "compile failed and left CACHE_DIR untouched";
        }
        throw err;
      }
      checks.writesOutside = outsideWrites(await container.changes(), before);
      checks.exportErrors = await exportErrors(ctx);
    },
  };
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

async function cacheFingerprint(ctx: BuildContext): Promise<string> {
  const dirs = ctx.buildpacks.map((b) => b.cacheDir);
  if (dirs.length === 0) return "";
  const script = `for d in "$@"; do find "$d" -printf '%P %y %s %T@ %m\\n' 2>/dev/null | LC_ALL=C sort; done | sha256sum`;
  const result = await captureInBuild(ctx, ["bash", "-c", script, "fingerprint", ...dirs], buildEnv(ctx));
  return result.stdout.trim();
}

async function exportErrors(ctx: BuildContext): Promise<string[]> {
  const errors: string[] = [];
  const script = `f="$1/export"; [ -f "$f" ] || exit 0; set -e; . "$f"`;
  for (const bp of ctx.buildpacks) {
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
