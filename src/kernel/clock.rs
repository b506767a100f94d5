//! The guests' clock: virtual by default, so that a program's output and
//! instruction count do not depend on the host (rule of determinism).
//!
//! ```text
//! Virtual (default)   realtime  = VIRTUAL_EPOCH + ns(instret) + slept
//!                     monotonic = MONOTONIC_START + ns(instret) + slept
//!                     ns(instret) = instret * NS_PER_INSTRUCTION
//!                     nanosleep moves `slept` forward instead of waiting
//! Host (--clock host) the host's CLOCK_REALTIME / CLOCK_MONOTONIC
//! ```
//!
//! One instruction is one nanosecond: a 1 GHz machine that retires one
//! instruction per cycle, about what qemu-riscv64 reaches on a desktop, so
//! time differences a program prints are of the order it would print
//! there. CPU-time clocks count the caller's own instructions either way.
//!
//! **Extension point (coursework):** a clock that advances with the
//! instructions of the running process only, or a timer interrupt.

use std::time::{SystemTime, UNIX_EPOCH};

/// 2024-01-01T00:00:00Z, where the virtual realtime clock starts.
pub const VIRTUAL_EPOCH_SECS: u64 = 1_704_067_200;
/// Where the virtual monotonic clock starts (a machine up for 1000 s).
pub const MONOTONIC_START_SECS: u64 = 1000;
/// Nanoseconds per retired instruction (module doc).
pub const NS_PER_INSTRUCTION: u64 = 1;

pub const CLOCK_REALTIME: u64 = 0;
pub const CLOCK_MONOTONIC: u64 = 1;
pub const CLOCK_PROCESS_CPUTIME_ID: u64 = 2;
pub const CLOCK_THREAD_CPUTIME_ID: u64 = 3;
pub const CLOCK_MONOTONIC_RAW: u64 = 4;
pub const CLOCK_REALTIME_COARSE: u64 = 5;
pub const CLOCK_MONOTONIC_COARSE: u64 = 6;
pub const CLOCK_BOOTTIME: u64 = 7;

/// Which clock the guests read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClockMode {
    /// Deterministic: advances with the instruction count.
    #[default]
    Virtual,
    /// The host's clocks.
    Host,
}

/// A kernel's clock.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    pub mode: ClockMode,
    /// Virtual nanoseconds skipped by sleeps.
    slept_ns: u64,
    /// The host's monotonic clock at the start (`--clock host`).
    host_start: Option<std::time::Instant>,
}

impl Clock {
    pub fn new(mode: ClockMode) -> Clock {
        Clock {
            mode,
            slept_ns: 0,
            host_start: Some(std::time::Instant::now()),
        }
    }

    /// The time of clock `id` in nanoseconds, `None` for an unknown clock.
    /// `instret` is the machine's instruction count, `cpu_instructions` the
    /// caller's own.
    pub fn now_ns(&self, id: u64, instret: u64, cpu_instructions: u64) -> Option<u64> {
        let virtual_ns = instret
            .saturating_mul(NS_PER_INSTRUCTION)
            .saturating_add(self.slept_ns);
        Some(match (id, self.mode) {
            (CLOCK_PROCESS_CPUTIME_ID | CLOCK_THREAD_CPUTIME_ID, _) => {
                cpu_instructions.saturating_mul(NS_PER_INSTRUCTION)
            }
            (CLOCK_REALTIME | CLOCK_REALTIME_COARSE, ClockMode::Virtual) => {
                VIRTUAL_EPOCH_SECS * 1_000_000_000 + virtual_ns
            }
            (
                CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_MONOTONIC_COARSE | CLOCK_BOOTTIME,
                ClockMode::Virtual,
            ) => MONOTONIC_START_SECS * 1_000_000_000 + virtual_ns,
            (CLOCK_REALTIME | CLOCK_REALTIME_COARSE, ClockMode::Host) => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
            (
                CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_MONOTONIC_COARSE | CLOCK_BOOTTIME,
                ClockMode::Host,
            ) => {
                let start = self.host_start.unwrap_or_else(std::time::Instant::now);
                MONOTONIC_START_SECS * 1_000_000_000 + start.elapsed().as_nanos() as u64
            }
            _ => return None,
        })
    }

    /// Sleeps `ns` nanoseconds: the virtual clock jumps forward (nothing
    /// else could happen meanwhile that the guest would see); the host
    /// clock really waits.
    pub fn sleep(&mut self, ns: u64) {
        match self.mode {
            ClockMode::Virtual => self.slept_ns = self.slept_ns.saturating_add(ns),
            ClockMode::Host => std::thread::sleep(std::time::Duration::from_nanos(ns)),
        }
    }

    /// The resolution of clock `id` (1 ns for all of them, as Linux's
    /// high-resolution clocks report).
    pub fn resolution_ns(&self, id: u64) -> Option<u64> {
        (id <= CLOCK_BOOTTIME).then_some(1)
    }
}
