// Launching Debian's Chromium (not a browser Playwright downloads: the machine reaches package
// registries only) with playwright-core. Shared by the test and the benchmark.
import { chromium } from "playwright-core";

/** $CHROMIUM, else Debian's `/usr/bin/chromium`. */
export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

export function launch() {
  // --no-sandbox: CI runs as root, where Chromium refuses its sandbox.
  return chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
}

/**
 * A context with a profile on disk (`dir`): unlike `launch().newContext()`, whose contexts are
 * off the record, it keeps the disk HTTP cache and V8's code cache between page loads.
 */
export function launchPersistent(dir) {
  return chromium.launchPersistentContext(dir, { executablePath: CHROMIUM, args: ["--no-sandbox"] });
}
