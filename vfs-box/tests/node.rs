//! The same box on Node.js (`runners/node/run.mjs`, on Node's own `node:wasi`): files written,
//! renamed, listed and read inside the box, stdlib imports, arguments, environment, a host
//! folder, and exit statuses passed through.

mod common;

use std::process::Command;

use common::{hello_box, repo, text};

/// `node runners/node/run.mjs OPTS BOX ARGS...`: (status, stdout, stderr).
fn node(opts: &[&str], args: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::new("node")
        .arg(repo().join("runners/node/run.mjs"))
        .args(opts)
        .arg(hello_box())
        .args(args)
        .output()
        .expect("running node (Node.js 20 or later)");
    (o.status.code(), text(&o.stdout), text(&o.stderr))
}

#[test]
fn a_box_runs_on_node_with_its_files_inside() {
    let code = "import json, decimal, pathlib, os, sys\n\
                p = pathlib.Path('/tmp/work/a.txt')\n\
                p.parent.mkdir()\n\
                p.write_text('written in the box')\n\
                p.rename('/tmp/work/b.txt')\n\
                print(sorted(os.listdir('/tmp/work')), pathlib.Path('/tmp/work/b.txt').read_text())\n\
                print(json.dumps(str(decimal.Decimal('0.1') + decimal.Decimal('0.2'))), sys.argv[1:])\n\
                print(os.environ.get('GREETING'), os.environ['HOME'])";
    let (status, out, err) = node(&["--env", "GREETING=hi"], &["-c", code, "x", "y"]);
    assert_eq!(status, Some(0), "{err}");
    assert_eq!(
        out,
        "['b.txt'] written in the box\n\"0.3\" ['x', 'y']\nhi /root\n"
    );
    assert!(!err.contains("ExperimentalWarning"), "{err}");
}

#[test]
fn exit_statuses_and_errors_pass_through() {
    let (status, _, _) = node(&[], &["-c", "raise SystemExit(7)"]);
    assert_eq!(status, Some(7));
    let (status, _, err) = node(&[], &["-c", "1/0"]);
    assert_eq!(status, Some(1));
    assert!(err.contains("ZeroDivisionError"), "{err}");
    let (status, out, _) = node(&[], &[]);
    assert_eq!(status, Some(0), "no arguments: the app's entry script");
    assert!(!out.is_empty());
}

#[test]
fn a_host_folder_is_mapped_beside_the_box() {
    let dir = common::scratch_dir("node");
    std::fs::write(dir.join("in.txt"), "from the host").unwrap();
    let map = format!("{}::/host", dir.display());
    let (status, out, err) = node(
        &["--dir", &map],
        &[
            "-c",
            "open('/host/out.txt', 'w').write(open('/host/in.txt').read().upper())",
        ],
    );
    assert_eq!(status, Some(0), "{err}");
    assert_eq!(out, "");
    assert_eq!(
        std::fs::read_to_string(dir.join("out.txt")).unwrap(),
        "FROM THE HOST"
    );
}
