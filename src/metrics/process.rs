//! The daemon's own resource use, read from `/proc/self` at scrape time: resident memory
//! (`status`), CPU seconds (`stat`) and open file descriptors (`fd`). Linux only; on a
//! system without `/proc` the figures are absent rather than wrong.

use std::path::Path;

/// Clock ticks per second of `utime`/`stime` in `/proc/<pid>/stat`: `USER_HZ`, which the
/// kernel fixes at 100 for user space on every architecture composectl runs on.
const USER_HZ: f64 = 100.0;

/// One reading of the process's resource use.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessStats {
    /// Resident set size in bytes.
    pub resident_memory_bytes: Option<u64>,
    /// User plus system CPU time in seconds.
    pub cpu_seconds: Option<f64>,
    /// Open file descriptors.
    pub open_fds: Option<u64>,
}

/// Reads the current process's figures from `/proc/self`.
pub fn read_self() -> ProcessStats {
    read_from(Path::new("/proc/self"))
}

/// Reads the figures of the process whose `/proc` directory is `dir`.
pub fn read_from(dir: &Path) -> ProcessStats {
    let status = std::fs::read_to_string(dir.join("status")).ok();
    let stat = std::fs::read_to_string(dir.join("stat")).ok();
    let open_fds = std::fs::read_dir(dir.join("fd"))
        .ok()
        .map(|entries| entries.count() as u64);
    ProcessStats {
        resident_memory_bytes: status.as_deref().and_then(parse_vm_rss),
        cpu_seconds: stat.as_deref().and_then(parse_cpu_seconds),
        open_fds,
    }
}

/// `VmRSS:  1234 kB` from `/proc/<pid>/status`, in bytes.
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut words = line["VmRSS:".len()..].split_whitespace();
    let value: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => Some(value * 1024),
        _ => None,
    }
}

/// `utime + stime` (fields 14 and 15) from `/proc/<pid>/stat`, in seconds. The command
/// name (field 2) is parenthesized and may hold spaces and parentheses itself, so fields
/// are counted from its last `)`.
pub fn parse_cpu_seconds(stat: &str) -> Option<f64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    // After the command: field 3 (state) is index 0, so fields 14 and 15 are 11 and 12.
    let mut fields = after_comm.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_memory_is_read_from_vm_rss_in_kilobytes() {
        let cases = [
            (
                "Name:\tcomposectl\nVmRSS:\t   2048 kB\nThreads: 2\n",
                Some(2048 * 1024),
            ),
            ("Name:\tcomposectl\n", None),
            ("VmRSS:\tlots kB\n", None),
            ("VmRSS:\t12 MB\n", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_vm_rss(text), expected, "{text:?}");
        }
    }

    #[test]
    fn cpu_seconds_sum_user_and_system_ticks_even_with_a_strange_command_name() {
        let tail = "S 1 2 3 4 5 6 7 8 9 10 250 150 0 0 20 0 1 0 100 0 0";
        let cases = [
            (format!("42 (composectl) {tail}"), Some(4.0)),
            (format!("42 (a b) c)) {tail}"), Some(4.0)),
            ("42 (composectl) S 1 2".to_owned(), None),
            ("garbage".to_owned(), None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_cpu_seconds(&text), expected, "{text:?}");
        }
    }

    #[test]
    fn the_running_test_process_has_memory_cpu_and_descriptors() {
        let stats = read_self();
        assert!(stats.resident_memory_bytes.unwrap() > 0);
        assert!(stats.cpu_seconds.unwrap() >= 0.0);
        assert!(
            stats.open_fds.unwrap() >= 3,
            "stdin, stdout, stderr at least"
        );
    }

    #[test]
    fn a_missing_proc_directory_gives_no_figures() {
        let stats = read_from(Path::new("/nonexistent/proc/self"));
        assert_eq!(stats, ProcessStats::default());
    }
}
