import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { createDockerRuntime } from "../../../src/docker/dockerode-runtime.js";
import { LABELS, getStackRecipe, imageRef, recipeHash } from "../../../src/stack/recipes.js";

// These are the proof that the suite drives a real Docker engine: `npm test` runs `slugforge setup`
// first, which starts the engine and makes the stack images from Debian packages.
const runtime = createDockerRuntime();

async function run(image: string, script: string): Promise<{ code: number; out: string }> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on("data", (b: Buffer) => chunks.push(b));
  const code = await runtime.runOnce(
    { image, user: "slug", network: "none", hardened: true, cmd: ["bash", "-c", script], env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" } },
    { stdout: out, stderr: out },
  );
  return { code, out: Buffer.concat(chunks).toString("utf8") };
}

describe("stack images", () => {
  const recipe = getStackRecipe("debian-13")!;

  it("are labelled with the hash of their recipe", async () => {
    for (const role of ["build", "run"] as const) {
      const info = await runtime.inspectImage(imageRef("debian-13", role));
      expect(info, `${imageRef("debian-13", role)} exists`).toBeDefined();
      expect(info?.labels[LABELS.recipe]).toBe(recipeHash(recipe[role]));
    }
  });

  it("build image runs as the unprivileged user with compilers and Python", async () => {
    const { code, out } = await run(
      imageRef("debian-13", "build"),
      'id -u; id -un; echo "home=$HOME"; python3 -c "import sys; print(sys.version_info[:2])"; gcc --version | head -n1; test -w /app && echo app-writable; cat /etc/slugforge-stack',
    );
    console.log(`container output (build image):\n${out}`);
    expect(code).toBe(0);
    expect(out).toMatch(/^1000\nslug\nhome=\/app\n\(3, 13\)\ngcc /);
    expect(out).toContain("app-writable");
    expect(out).toContain("trixie build");
  });

  it("build image has every package of both recipes, all marked manual, as a debootstrap of its whole list gives", async () => {
    // It is made from the run image's root filesystem plus apt-get: apt's own traces must not stay.
    const { code, out } = await run(
      imageRef("debian-13", "build"),
      "dpkg-query -W -f '${Package}\\n'; echo ---; apt-mark showauto | wc -l; ls /var/lib/apt/extended_states /var/cache/apt/pkgcache.bin /var/log/apt/history.log 2>&1 | grep -c 'No such file'",
    );
    expect(code).toBe(0);
    const [installed, rest] = out.split("---\n");
    const names = new Set(installed!.trim().split("\n"));
    for (const p of [...recipe.build.packages, ...recipe.run.packages]) expect(names.has(p), `${p} installed`).toBe(true);
    expect(rest!.trim().split("\n")).toEqual(["0", "3"]);
  });

  it("run image has the runtime libraries but no compiler and no python3", async () => {
    const { code, out } = await run(
      imageRef("debian-13", "run"),
      "id -un; for c in gcc cc python3 python3.13; do command -v $c && echo HAS-$c; done; ls /usr/lib/x86_64-linux-gnu/libpq.so.5 /usr/lib/x86_64-linux-gnu/libssl.so.3; dpkg -l python3 2>&1 | grep -c '^ii' || true",
    );
    console.log(`container output (run image):\n${out}`);
    expect(code).toBe(0);
    expect(out).toMatch(/^slug\n/);
    expect(out).not.toContain("HAS-");
    expect(out).toContain("libpq.so.5");
    expect(out.trim().endsWith("0")).toBe(true);
  });
});
