//! `vfs-image`: pack, inspect, compare, verify, unpack, flatten and embed wasm-vfs images.
//!
//! Layered like ripgrep's flags: `clap` definitions here, one module per command family doing
//! the work. Every error is printed as `vfs-image: error: ...` with its causes, and the exit code
//! is 1 (2 for `diff`, whose 1 means "the images differ", as in diff(1)).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

/// `println!` for what the commands print: when stdout is a pipe whose reader has gone
/// (`vfs-image inspect --files x.vfs | head`), the program ends at once with status 141, as a
/// Unix tool killed by `SIGPIPE` does, instead of panicking as `println!` would.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::print_line(format_args!($($arg)*))
    };
}

mod browse;
mod diff;
mod embed;
mod inspect;
mod pack;
mod time;

/// Build and inspect wasm-vfs images: zero-copy, deterministic, layered filesystem images that
/// a WebAssembly guest reads in place.
#[derive(Parser, Debug)]
#[command(name = "vfs-image", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Pack a directory (or an OCI/Docker layer tar) into an image.
    Pack(pack::PackArgs),
    /// List a directory of an image (like `ls`).
    Ls(browse::LsArgs),
    /// Write a file of an image to stdout (like `cat`).
    Cat(browse::CatArgs),
    /// Show the metadata of a path in an image (like `stat`).
    Stat(browse::StatArgs),
    /// Show an image's header, counts, sizes and dedup savings.
    Inspect(inspect::InspectArgs),
    /// Extract an image into a directory: files, dirs, symlinks, hard links, modes, times.
    Unpack(browse::UnpackArgs),
    /// Compare two images: added (+), removed (-) and changed (M) paths. Exit 1 if they differ.
    Diff(diff::DiffArgs),
    /// Check an image's checksums and its whole structure.
    Verify(inspect::VerifyArgs),
    /// Flatten a stack of layers (lowest first) into one image.
    Squash(pack::SquashArgs),
    /// Embed an image into a WebAssembly module.
    Embed(embed::EmbedArgs),
}

/// Reads an image file into memory; the caller opens it with `Image::open`.
fn read_image(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read image {}", path.display()))
}

/// Opens image bytes, naming the file in the error.
fn open_image<'a>(path: &Path, bytes: &'a [u8]) -> Result<vfs_image::Image<'a>> {
    vfs_image::Image::open(bytes).with_context(|| format!("{}: not a valid image", path.display()))
}

/// What [`outln!`] does: one line to stdout; a closed pipe ends the program (status 141, the
/// shell's number for death by `SIGPIPE`), any other write error too, with a message.
fn print_line(args: std::fmt::Arguments) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
        eprintln!("vfs-image: error: writing to standard output: {e}");
        std::process::exit(1);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let is_diff = matches!(cli.command, Command::Diff(_));
    let result = match cli.command {
        Command::Pack(a) => pack::run_pack(a),
        Command::Ls(a) => browse::run_ls(a),
        Command::Cat(a) => browse::run_cat(a),
        Command::Stat(a) => browse::run_stat(a),
        Command::Inspect(a) => inspect::run_inspect(a),
        Command::Unpack(a) => browse::run_unpack(a),
        Command::Diff(a) => diff::run(a),
        Command::Verify(a) => inspect::run_verify(a),
        Command::Squash(a) => pack::run_squash(a),
        Command::Embed(a) => embed::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vfs-image: error: {e:#}");
            ExitCode::from(if is_diff { 2 } else { 1 })
        }
    }
}
