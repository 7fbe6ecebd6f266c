//! Runs a WebAssembly module on the harness's wasmtime (WASI preview 1), for experiments:
//! `vfs-run MODULE.wasm [--dir HOST::GUEST]... [ARGS]...`; prints the guest's stdout and stderr.
fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let wasm = args.next().ok_or_else(|| {
        anyhow::anyhow!("usage: vfs-run MODULE.wasm [--dir HOST::GUEST]... [ARGS]...")
    })?;
    let mut opts = vfs_tests::RunOptions::default();
    while let Some(a) = args.next() {
        if a == "--dir" {
            let d = args.next().unwrap_or_default();
            let (host, guest) = d.split_once("::").unwrap_or((&d, &d));
            opts.dirs.push((host.into(), guest.into()));
        } else {
            opts.args.push(a);
        }
    }
    let engine = vfs_tests::engine();
    let module = vfs_tests::load(&engine, std::path::Path::new(&wasm))?;
    let out = vfs_tests::run(&engine, &module, &opts)?;
    print!("{}", out.stdout);
    eprint!("{}", out.stderr);
    std::process::exit(out.exit)
}
