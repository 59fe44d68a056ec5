//! Giving back what start-up used, for an idle daemon and a large run: the pages of the process's
//! own machine code that loading the config, migrating the store and parsing the inventory touched
//! (clean file pages, read back from the binary when next needed) and the heap the allocator still
//! holds. Called once the daemon has
//! settled and whenever its last run ends, so a daemon waiting for tonight's slot stays small; and
//! by a run once it has loaded everything and before its hosts start, so a large fleet's peak is
//! the fleet's own memory, not that plus start-up's.

/// Runs going in this process: while more than one is, none releases (the others' code and heap
/// are in use).
static RUNNING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// One run counted in [`RUNNING`] while it lives.
pub struct RunningRun(());

impl RunningRun {
    pub fn enter() -> RunningRun {
        RUNNING.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        RunningRun(())
    }

    /// Whether the caller's run is the only one going.
    pub fn alone() -> bool {
        RUNNING.load(std::sync::atomic::Ordering::SeqCst) <= 1
    }
}

impl Drop for RunningRun {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Releases the executable's resident code pages and trims the heap; best effort, never fails.
pub fn release() {
    let Ok(exe) = std::fs::read_link("/proc/self/exe") else {
        return;
    };
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return;
    };
    let mut mine: Vec<(usize, usize, &str)> = Vec::new();
    for line in maps.lines() {
        let mut f = line.split_whitespace();
        let (Some(range), Some(perms)) = (f.next(), f.next()) else {
            continue;
        };
        if f.nth(3).unwrap_or("") != exe.to_string_lossy() {
            continue;
        }
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) {
            mine.push((a, b, perms));
        }
    }
    // The code (r-xp) and the read-only data before it (.rodata, .eh_frame): never written. Not
    // what follows the code: its RELRO part was written by the loader (relocations) before it was
    // made read-only, and reading it back from the file would undo them.
    let Some(code_start) = mine.iter().find(|m| m.2 == "r-xp").map(|m| m.0) else {
        return;
    };
    for (a, b, perms) in mine {
        let clean = perms == "r-xp" || (perms == "r--p" && b <= code_start);
        if !clean {
            continue;
        }
        // SAFETY: a whole mapping of this process whose pages are clean private file pages (never
        // written): MADV_DONTNEED unmaps them and the kernel reads them back from the file on next
        // use; MADV_RANDOM asks it to read back only what is used.
        unsafe {
            libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_RANDOM);
            libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_DONTNEED);
        }
    }
    trim_heap();
}

/// Gives the heap the allocator holds free back to the system (glibc keeps freed memory between
/// live allocations resident; a run of 1,000 hosts left about a third of its heap so).
pub fn trim_heap() {
    // SAFETY: glibc's malloc_trim only returns free heap memory to the system.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::malloc_trim(0);
    }
}
