//! The `tended` binary: a thin shell over the library's command line.

/// mimalloc, not glibc's malloc: a daemon's slot runs ~100 runs and their SSH sessions at once on
/// the runtime's threads, and glibc spent a fifth of the daemon's CPU there (Cargo.toml says more).
/// Only the binary: the library's own tests and benchmarks keep the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tended::runner::memory::no_huge_pages();
    // What still uses glibc's malloc (the C parts: aws-lc, SQLite) would get an arena per thread
    // that allocates (up to 8 per core), megabytes of RSS nobody uses; two are enough for them.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    tended::cli::main()
}
