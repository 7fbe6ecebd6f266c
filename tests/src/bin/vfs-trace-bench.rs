//! Runs the bench guest once with `VFS_TRACE=1` and prints the trace (a debugging aid).
fn main() -> anyhow::Result<()> {
    let engine = vfs_tests::engine();
    let m = vfs_tests::load(&engine, &vfs_tests::build_guest("fs-bench", &["vfs"])?)?;
    let opts = vfs_tests::RunOptions {
        args: vec!["/bench".into(), "1".into()],
        env: vec![("VFS_TRACE".into(), "1".into())],
        ..Default::default()
    };
    let out = vfs_tests::run(&engine, &m, &opts)?;
    print!("{}", out.stderr);
    Ok(())
}
