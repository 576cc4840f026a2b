import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium } from "../../helpers/chromium.js";
import { GitClient, type TimedRun } from "../../helpers/git-client.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";
import { buildpackRepo, E2E_TOKEN, startServer, type RunningServer } from "../e2e/server.js";

// The dashboard in a real headless Chromium (Debian's), against the whole server with real
// Docker builds: sign in, watch a push's output arrive, roll back, reveal a config var, sign out.

const dirs = tmpDirs();
const SECRET = "s3cr3t-value-for-the-dashboard";
/**
 * Screenshots of the main pages. They go to docs/dashboard/ (committed, linked from the README)
 * when SLUGFORGE_UPDATE_SCREENSHOTS=1, else beside the other test output, so an ordinary test run
 * leaves the work tree as it was.
 */
const SHOTS = process.env.SLUGFORGE_UPDATE_SCREENSHOTS === "1" ? path.resolve(import.meta.dirname, "../../../docs/dashboard") : path.resolve(import.meta.dirname, "../../.tmp/dashboard");

let server: RunningServer;
let git: GitClient;
let work: string;
let context: BrowserContext;
let page: Page;
let slowUrl: string;
const pageErrors: string[] = [];

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

/** A commit of the app: SLOW seconds of compile, and `kb` KB of random bytes so each slug has its own size. */
async function commitApp(seconds: number, kb: number, message: string): Promise<void> {
  await writeFile(path.join(work, "SLOW"), `${seconds}\n`);
  await git.commit(work, "payload.bin", randomBytes(kb * 1024), message);
}

async function push(): Promise<{ code: number; stderr: string }> {
  return git.run(["push", server.url("web"), "main"], work);
}

type Release = { version: number; slugId: string | null };
const releases = async (): Promise<Release[]> => (await server.api<Release[]>("GET", "/api/apps/web/releases")).body;

/** What the page's view says, as text. */
const viewText = (): Promise<string> => page.locator("#view").innerText();

beforeAll(async () => {
  await mkdir(SHOTS, { recursive: true });
  git = new GitClient(await dirs.make("sf-dash-home-"));
  server = await startServer(await dirs.make("sf-dash-data-"));
  slowUrl = await buildpackRepo(git, "slow", await dirs.make("sf-dash-bp-slow-"));
  expect((await server.api("POST", "/api/apps", { name: "web" })).status).toBe(201);
  expect((await server.api("PATCH", "/api/apps/web/config-vars", { SECRET_KEY: SECRET, WEB_CONCURRENCY: "2" })).status).toBe(200);
  work = await dirs.make("sf-dash-app-");
  await git.initRepo(work);
  // The buildpack named by the app's .buildpacks, a file:// URL under the allowed root (os.tmpdir()).
  await git.commit(work, ".buildpacks", `${slowUrl}#main\n`, "buildpacks");
  for (const [i, kb] of [40, 160].entries()) {
    await commitApp(1, kb, `release ${i + 1}`);
    const pushed = await push();
    expect(pushed.code, pushed.stderr).toBe(0);
  }
  expect(await releases()).toHaveLength(2);

  context = await launchChromium(await dirs.make("sf-dash-chromium-"));
  page = await context.newPage();
  page.on("pageerror", (err) => pageErrors.push(`uncaught: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error" && /Content.Security.Policy|Refused to/i.test(msg.text())) pageErrors.push(`CSP: ${msg.text()}`);
  });
}, 600_000);

afterAll(async () => {
  await context?.close();
  await server?.close();
  await dirs.cleanup();
});

describe("the dashboard in headless Chromium", () => {
  it("signs in with a token (wrong ones refused) into an HttpOnly, SameSite=Strict session cookie; nothing secret in the URL", async () => {
    await page.goto(server.base);
    await page.locator("#signin").waitFor({ state: "visible" });
    await shot("sign-in");
    await page.fill("#token", "not-a-token");
    await page.click("#signin-form button[type=submit]");
    await page.locator("#signin-error").waitFor({ state: "visible" });
    expect(await context.cookies()).toEqual([]);

    await page.fill("#token", E2E_TOKEN);
    await page.click("#signin-form button[type=submit]");
    await page.locator("#apps").waitFor();
    expect(await page.locator("#who").innerText()).toBe("admin");
    const [cookie, ...others] = await context.cookies();
    expect(others).toEqual([]);
    expect(cookie).toMatchObject({ name: "slugforge_session", httpOnly: true, sameSite: "Strict", path: "/", secure: false });
    expect(cookie!.value).not.toContain(E2E_TOKEN);
    // Page scripts cannot read it, and neither the URL nor the history holds the token.
    expect(await page.evaluate("document.cookie")).toBe("");
    expect(page.url()).not.toContain(E2E_TOKEN);
    expect(await page.locator("#token").inputValue()).toBe("");
    expect(await page.locator("#apps tbody tr").allInnerTexts()).toEqual([expect.stringContaining("web")]);
    await shot("apps");
  });

  it("shows a push's output in the page while the push runs, then the build in the list with its status, duration and a bar per phase", async () => {
    await page.goto(`${server.base}/#/apps/web`);
    await page.locator("#builds").waitFor();
    expect(await page.locator("#builds tbody tr").count()).toBe(2);

    // The compile sleeps 12 s after its first line: the list (refreshed every 5 s while no build
    // runs) may show the build up to 5 s after it started, and that line now comes within a second.
    await commitApp(12, 300, "release 3");
    let pushed: Awaited<TimedRun["done"]> | undefined;
    let endedAt = 0;
    const run = git.spawnTimed(["push", server.url("web"), "main"], work);
    const done = run.done.then((r) => {
      pushed = r;
      endedAt = Date.now();
    });
    // The list refreshes by itself: the new build shows up as building; open it.
    const building = page.locator('#builds tbody tr[data-status="building"] a');
    await building.waitFor({ timeout: 60_000 });
    await building.click();
    await page.locator("#output").waitFor();
    await page.locator("#output", { hasText: "Starting slow compile" }).waitFor({ timeout: 60_000 });
    const seenAt = Date.now();
    expect(pushed, "the push ended before its output showed in the page").toBeUndefined();
    expect(await page.locator("#follow-state").innerText()).toContain("Following the build live");
    expect(await page.locator("#output").innerText()).not.toContain("Slow compile done");
    await shot("build-live");

    await page.locator("#output", { hasText: "Slow compile done" }).waitFor({ timeout: 60_000 });
    await done;
    expect(pushed!.code, pushed!.stderr).toBe(0);
    // The first line was on the page seconds before the push ended (the compile sleeps 12 s after it).
    expect(endedAt - seenAt).toBeGreaterThan(3000);
    await page.locator("#follow-state", { hasText: "The build ended: succeeded" }).waitFor({ timeout: 30_000 });
    const output = await page.locator("#output").innerText();
    // Colour codes dropped, UTF-8 whole, the \r progress line rewritten to its last state.
    expect(output).toContain("green café ✓");
    expect(output).toContain("progress 100%");
    expect(output).not.toContain("progress 50%");
    expect(output).not.toContain("\u001b");
    expect(await page.locator("#build-phases .phase-row").count()).toBeGreaterThanOrEqual(5);
    expect(await page.locator('#build-phases .phase-row[data-phase="compile"]').count()).toBe(1);
    await shot("build");

    await page.goto(`${server.base}/#/apps/web`);
    await page.locator("#builds tbody tr").nth(2).waitFor();
    const rows = page.locator("#builds tbody tr");
    expect(await rows.count()).toBe(3);
    const first = rows.first();
    expect(await first.getAttribute("data-status")).toBe("succeeded");
    // A bar per phase: the slow compile is the widest segment of the newest build's bar.
    const widths: Record<string, number> = await first.locator("rect[data-phase]").evaluateAll((rects) =>
      Object.fromEntries(rects.map((r) => [r.getAttribute("data-phase"), Number(r.getAttribute("width"))])),
    );
    // A phase that took no whole millisecond has no segment: a warm build's detect often does not
    // (its bin/detect ran inside the source step's exec).
    expect(Object.keys(widths)).toEqual(expect.arrayContaining(["source", "compile", "slug"]));
    expect(Math.max(...Object.values(widths))).toBe(widths.compile);
    expect(await first.locator("td.num").innerText()).toMatch(/^\d+(\.\d)? s$/);
    await shot("builds");
  });

  it("charts the slug sizes and rolls back from the releases page", async () => {
    const before = await releases();
    expect(before.map((r) => r.version)).toEqual([3, 2, 1]);
    await page.goto(`${server.base}/#/apps/web/releases`);
    await page.locator("#releases").waitFor();
    expect(await page.locator(".size-chart .size-dot").count()).toBe(3);
    await page.click('button.rollback[data-version="1"]');
    await page.click('button.confirm-rollback[data-version="1"]');
    await page.locator("#release-notice", { hasText: "Rolled back to v1: release v4 is live." }).waitFor();
    expect(await page.locator("#releases tbody tr").first().innerText()).toMatch(/^v4\s*current/);
    expect(await page.locator(".size-chart .size-dot").count()).toBe(4);
    const after = await releases();
    expect(after[0]).toMatchObject({ version: 4, slugId: before.find((r) => r.version === 1)!.slugId });
    await shot("releases");
  });

  it("hides config var values until asked", async () => {
    await page.goto(`${server.base}/#/apps/web/config`);
    await page.locator("#config").waitFor();
    expect(await viewText()).not.toContain(SECRET);
    await shot("config");
    await page.click('tr[data-name="SECRET_KEY"] button.reveal');
    expect(await page.locator('tr[data-name="SECRET_KEY"] .secret').innerText()).toBe(SECRET);
    expect(await page.locator('tr[data-name="WEB_CONCURRENCY"] .secret').innerText()).not.toBe("2");
    await page.click('tr[data-name="SECRET_KEY"] button.reveal');
    expect(await viewText()).not.toContain(SECRET);
  });

  it("refuses a change made with the cookie from another site: by Origin, by Sec-Fetch-Site, and a real cross-site page's request", async () => {
    const [cookie] = await context.cookies();
    const sessionCookie = `${cookie!.name}=${cookie!.value}`;
    const rollback = (headers: Record<string, string>) =>
      fetch(`${server.base}/api/apps/web/releases`, { method: "POST", headers: { Cookie: sessionCookie, "Content-Type": "application/json", ...headers }, body: JSON.stringify({ release: 2 }) });
    const count = (await releases()).length;
    const crossSite: Record<string, string>[] = [{ Origin: "http://evil.example" }, { "Sec-Fetch-Site": "cross-site", Origin: server.base }, { "Sec-Fetch-Site": "same-site" }, {}];
    for (const headers of crossSite) {
      const refused = await rollback(headers);
      expect(refused.status, JSON.stringify(headers)).toBe(403);
      expect(((await refused.json()) as { id: string }).id).toBe("CROSS_SITE_REQUEST");
    }
    // The same cookie from the page's own origin works, and Bearer calls are as they were.
    expect((await fetch(`${server.base}/api/apps/web`, { headers: { Cookie: sessionCookie } })).status).toBe(200);
    expect((await fetch(`${server.base}/api/apps/web/releases`, { method: "POST", headers: { Authorization: `Bearer ${E2E_TOKEN}`, Origin: "http://evil.example", "Content-Type": "application/json" }, body: "{\"release\": 3}" })).status).toBe(201);
    expect((await releases()).length).toBe(count + 1);

    // A page of another site (localhost is not 127.0.0.1's site) posts to the API in the browser:
    // SameSite=Strict keeps the cookie off it, and nothing changes.
    const evil = http.createServer((_req, res) => res.writeHead(200, { "Content-Type": "text/html" }).end("<!doctype html><title>elsewhere</title>"));
    await new Promise<void>((resolve) => evil.listen(0, "127.0.0.1", resolve));
    try {
      const other = await context.newPage();
      await other.goto(`http://localhost:${(evil.address() as AddressInfo).port}/`);
      const status = await other.evaluate(async (target) => {
        await fetch(target, { method: "POST", mode: "no-cors", credentials: "include", headers: { "Content-Type": "text/plain" }, body: '{"release": 2}' });
        return "sent";
      }, `${server.base}/api/apps/web/releases`);
      expect(status).toBe("sent");
      await other.close();
    } finally {
      await new Promise((resolve) => {
        evil.close(resolve);
        // Chromium keeps its connection open for minutes.
        evil.closeAllConnections();
      });
    }
    expect((await releases()).length).toBe(count + 1);
  });

  it("signs out: the cookie is gone and the session ends on the server too", async () => {
    const [cookie] = await context.cookies();
    await page.goto(`${server.base}/#/`);
    await page.locator("#apps").waitFor();
    await page.click("#sign-out");
    await page.locator("#signin").waitFor({ state: "visible" });
    expect(await context.cookies()).toEqual([]);
    expect(await page.locator("#view").isHidden()).toBe(true);
    const replayed = await fetch(`${server.base}/api/apps`, { headers: { Cookie: `${cookie!.name}=${cookie!.value}` } });
    expect(replayed.status).toBe(401);
    expect(replayed.headers.get("www-authenticate")).toBeNull();
  });

  it("a read token signs in too and sees what its scope allows: its app, no rollback, config var names without values", async () => {
    const read = await server.api<{ token: string }>("POST", "/api/tokens", { app: "web", scope: "read" });
    await page.fill("#token", read.body.token);
    await page.click("#signin-form button[type=submit]");
    await page.locator("#apps").waitFor();
    expect(await page.locator("#who").innerText()).toMatch(/^read token [0-9a-f]{12} · web$/);
    await page.goto(`${server.base}/#/apps/web/releases`);
    await page.locator("#releases").waitFor();
    expect(await page.locator("button.rollback").count()).toBe(0);
    await page.goto(`${server.base}/#/apps/web/config`);
    await page.locator("#config-names").waitFor();
    expect(await page.locator("#config-names li").allInnerTexts()).toEqual(["SECRET_KEY", "WEB_CONCURRENCY"]);
    expect(await page.content()).not.toContain(SECRET);
    await page.click("#sign-out");
    await page.locator("#signin").waitFor({ state: "visible" });
  });

  it("ran with no script error and no Content-Security-Policy violation", () => {
    expect(pageErrors).toEqual([]);
  });
});
