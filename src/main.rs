//! The `tended` binary: a thin shell over the library's command line.

fn main() -> std::process::ExitCode {
    // glibc gives each thread that allocates its own malloc arena (up to 8 per core); with hundreds
    // of SSH sessions moving between the runtime's threads that fragments into megabytes of RSS
    // nobody uses. Two arenas keep the peak low at no measurable cost in speed (benches/fleet.sh).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    tended::cli::main()
}
