import { createWriteStream } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { appName, createApp, WHEELHOUSE_VARS, type BenchContext } from "./context.js";
import { fixtureRepo } from "./git.js";
import { ok } from "./proc.js";

export interface BuiltApp {
  /** A folder holding `app/`: the built /app of a real build. */
  readonly root: string;
  readonly fixture: string;
  /** Why a smaller sample stood in for Django, when one did. */
  readonly fallback?: string;
}

/**
 * A real built /app: the sample is pushed to a slugforge server with the shipped Python buildpack
 * (the wheelhouse mounted, pip pointed at it), its slug is fetched through the API and unpacked.
 * Django first; when it does not build, the biggest sample that does, and the reason is kept.
 */
export async function buildSampleApp(ctx: BenchContext): Promise<BuiltApp> {
  const server = await ctx.pythonServer();
  const failures: string[] = [];
  for (const fixture of ["python-django", "python-flask", "python-stdlib"]) {
    const name = appName(fixture.replace("python-", "bs-"));
    const work = await ctx.tmp.make(`src-${fixture}`);
    try {
      ctx.progress(`slug: building the ${fixture} sample once for a real /app`);
      await fixtureRepo(ctx.git, fixture, work);
      await createApp(server, name, WHEELHOUSE_VARS);
      await ctx.git.push(server.url(name), work);
      // The build's background work (its kept cache, the next container) must not run into what is measured next.
      await server.idle();
      const slugs = await server.api<{ id: string }[]>("GET", `/api/apps/${name}/slugs`);
      const id = slugs[0]?.id;
      if (!id) throw new Error("the push was accepted but no slug was recorded");
      const root = await ctx.tmp.make(`app-${fixture}`);
      const file = path.join(root, "slug.tar.gz");
      const res = await fetch(`${server.base}/api/slugs/${id}/blob`, { headers: { Authorization: `Bearer ${tokenOf(server.url(name))}` } });
      if (!res.ok || !res.body) throw new Error(`GET /api/slugs/${id}/blob: ${res.status}`);
      await pipeline(Readable.fromWeb(res.body as import("node:stream/web").ReadableStream), createWriteStream(file));
      await ok("tar", ["-xzf", file, "-C", root]);
      await ok("rm", ["-f", file]);
      return { root, fixture, ...(failures.length ? { fallback: failures.join("; ") } : {}) };
    } catch (err) {
      failures.push(`${fixture} did not build: ${(err as Error).message.split("\n").slice(-3).join(" ").slice(0, 300)}`);
      ctx.progress(failures[failures.length - 1]!);
    }
  }
  throw new Error(`no sample app could be built: ${failures.join("; ")}`);
}

function tokenOf(url: string): string {
  return decodeURIComponent(/\/\/[^:]*:([^@]*)@/.exec(url)?.[1] ?? "");
}
