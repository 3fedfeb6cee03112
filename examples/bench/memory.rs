//! Resident memory of a process, from `/proc/<pid>/status`: `VmRSS` (now) and `VmHWM`
//! (the peak so far), in KiB as the kernel reports them.

use std::time::Duration;

use tokio::process::Child;

/// One reading of a process's memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// Resident set size now, KiB.
    pub rss_kib: u64,
    /// Peak resident set size, KiB.
    pub hwm_kib: u64,
}

impl Memory {
    /// The larger of each field.
    pub fn max(self, other: Self) -> Self {
        Self {
            rss_kib: self.rss_kib.max(other.rss_kib),
            hwm_kib: self.hwm_kib.max(other.hwm_kib),
        }
    }
}

/// The memory of process `pid`, `None` once it is gone.
pub fn read(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
    })
}

/// Polls `child` every 5 ms until it exits; its largest reading and whether it succeeded.
pub async fn sample_until_exit(child: &mut Child) -> (Memory, bool) {
    let mut peak = Memory::default();
    loop {
        if let Some(mem) = child.id().and_then(read) {
            peak = peak.max(mem);
        }
        match child.try_wait() {
            Ok(Some(status)) => return (peak, status.success()),
            Ok(None) => tokio::time::sleep(Duration::from_millis(5)).await,
            Err(_) => return (peak, false),
        }
    }
}

/// KiB to MiB.
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// `MemAvailable` of the host, KiB, from `/proc/meminfo`.
pub fn available_kib() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
