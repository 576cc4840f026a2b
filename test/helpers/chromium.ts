import { existsSync } from "node:fs";
import { chromium, type BrowserContext } from "playwright-core";

/** Debian's chromium package; `.ci/run` installs it. Nothing downloads a browser of its own. */
export const CHROMIUM = "/usr/bin/chromium";

/**
 * The flags the machine notes give for headless Chromium here (as root, on a closed network):
 * without the background-networking ones it keeps trying to reach Google's hosts.
 */
const FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/**
 * Headless Chromium with a fresh profile in `userDataDir`. Fails (never skips) when the browser is
 * missing: a browser test that quietly does not run proves nothing.
 */
export async function launchChromium(userDataDir: string): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y --no-install-recommends chromium), as .ci/run does`);
  }
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1200, height: 820 },
    deviceScaleFactor: 1,
  });
}
