//! The same box in a real browser: `web/build.sh` (pinned npm packages, the plain and the
//! pre-initialized box, built by this `vfs-box`) and `web/test/browser.mjs`, which serves
//! `web/` on loopback, drives the console page in headless Chromium (Debian's, through
//! `playwright-core`) and checks what the page shows: files in /tmp written, listed and read
//! across two commands, `json`, stderr and exit status, a page that answers while a command runs.
//! Needs Node.js, npm (the registry) and Chromium; `scripts/tools.sh` installs Chromium.

mod common;

use std::process::Command;

use common::{repo, text, vfs_box};

#[test]
fn the_console_page_runs_the_box_in_chromium() {
    let web = repo().join("web");
    let o = Command::new(web.join("build.sh"))
        .env("VFS_BOX", vfs_box())
        .output()
        .expect("running web/build.sh (needs bash, node and npm)");
    assert!(
        o.status.success(),
        "web/build.sh failed: {}\n{}{}",
        o.status,
        text(&o.stdout),
        text(&o.stderr)
    );
    let o = Command::new("node")
        .arg(web.join("test/browser.mjs"))
        .output()
        .expect("running node web/test/browser.mjs");
    assert!(
        o.status.success(),
        "the browser test failed ({}; Chromium missing? scripts/tools.sh installs it):\n{}{}",
        o.status,
        text(&o.stdout),
        text(&o.stderr)
    );
    let out = text(&o.stdout);
    // Both boxes went through every check (the script asserts; this makes sure it got there).
    assert!(out.contains("--- pre-initialized box"), "{out}");
    assert!(out.contains("--- ?box=plain"), "{out}");
    assert!(out.contains("ok: "), "{out}");
}
