// The console page in a real browser (headless Chromium via playwright-core): the box loads in
// its worker, two commands typed into the page write, list and read files in /tmp (the second
// sees what the first wrote), `json` imports, errors reach the page as stderr with the exit
// status, a variable does not outlive its command, and the page answers while a command runs.
// Run by vfs-box/tests/browser.rs after web/build.sh; by hand: `node web/test/browser.mjs`.
import assert from "node:assert/strict";
import { serve } from "./serve.mjs";
import { launch } from "./chromium.mjs";

const FIRST = `import os, json
os.makedirs('/tmp/notes', exist_ok=True)
with open('/tmp/notes/a.json', 'w') as f:
    json.dump({'n': 41}, f)
open('/tmp/b.txt', 'w').write('second file')
kept = 'only in this command'
print(sorted(os.listdir('/tmp')), os.listdir('/tmp/notes'))`;

const SECOND = `import os, json
d = json.load(open('/tmp/notes/a.json'))
print(d['n'] + 1, open('/tmp/b.txt').read(), sorted(os.listdir('/tmp')))
os.rename('/tmp/b.txt', '/tmp/notes/c.txt')
print(sorted(os.listdir('/tmp')), sorted(os.listdir('/tmp/notes')))
print(json.dumps({'sum': [1, 2.5, None]}))`;

const THIRD = `import sys
print('before', flush=True)
print(kept)`;

// Busy for ~1.5 s of guest time (a clock the guest reads through the host).
const SLOW = `import time
t = time.monotonic()
while time.monotonic() - t < 1.5: pass
print('slow done')`;

async function typeAndRun(page, code) {
  const before = Number((await page.locator("body").getAttribute("data-commands")) ?? 0);
  await page.fill("#code", code);
  await page.click("#run");
  await page.waitForFunction((n) => Number(document.body.dataset.commands ?? 0) > n, before);
}

async function check(browser, url, query) {
  const page = await browser.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && problems.push(`console error: ${m.text()}`));
  await page.goto(`${url}index.html${query}`);
  await page.waitForFunction(() => document.body.dataset.state !== undefined, null, { timeout: 60_000 });
  assert.equal(await page.locator("body").getAttribute("data-state"), "ready", await page.textContent("#status"));

  await typeAndRun(page, FIRST);
  await typeAndRun(page, SECOND);
  await typeAndRun(page, THIRD);
  const shown = await page.textContent("#output");
  // What the page shows: each command echoed with ">>> ", then its output.
  const outputs = shown.split("\n").filter((l) => !l.startsWith(">>> ") && !l.startsWith("... ")).join("\n");
  assert.match(outputs, /^\['b\.txt', 'notes'\] \['a\.json'\]\n/, shown);
  assert.ok(outputs.includes("42 second file ['b.txt', 'notes']\n['notes'] ['a.json', 'c.txt']\n"), shown);
  assert.ok(outputs.includes('{"sum": [1, 2.5, null]}\n'), shown);
  assert.ok(outputs.includes("before\n"), shown);
  assert.ok(outputs.includes("NameError: name 'kept' is not defined"), shown);
  assert.ok(outputs.includes("[exit status 1]"), shown);
  // stderr is shown as stderr (its own class), not mixed into stdout.
  assert.match(await page.locator("#output .stderr").allTextContents().then((t) => t.join("")), /NameError/);
  assert.equal(await page.textContent("#tmp"), "notes");

  // While the worker is busy, the page still runs its own script.
  await page.fill("#code", SLOW);
  await page.click("#run");
  const during = await page.evaluate(() => ({ commands: document.body.dataset.commands, busy: document.getElementById("run").disabled }));
  assert.deepEqual(during, { commands: "3", busy: true }, "the page answered while the command ran");
  await page.waitForFunction(() => document.body.dataset.commands === "4", null, { timeout: 60_000 });
  assert.ok((await page.textContent("#output")).endsWith("slow done\n"));

  assert.deepEqual(problems, []);
  await page.close();
  return shown;
}

const server = await serve();
const browser = await launch();
try {
  for (const query of ["", "?box=plain"]) {
    const shown = await check(browser, server.url, query);
    console.log(`--- ${query || "pre-initialized box"}: the page showed\n${shown}`);
  }
  console.log(`ok: ${browser.version()}`);
} finally {
  await browser.close();
  await server.close();
}
