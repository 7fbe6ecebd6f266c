//! What the end-to-end test files share.

use std::path::PathBuf;

/// A scratch folder for one test binary's boxes (tens of MB each): under cargo's per-target
/// temporary folder, one subfolder per process. Folders left by processes that are gone are
/// removed first, so repeated runs (CI's among them) do not pile up boxes.
pub fn scratch_dir(kind: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(kind);
    if let Ok(entries) = std::fs::read_dir(&root) {
        for e in entries.flatten() {
            let alive = e
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
            if !alive {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let dir = root.join(std::process::id().to_string());
    std::fs::create_dir_all(&dir).expect("creating the test's scratch folder");
    dir
}
