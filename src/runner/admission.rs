//! How many SSH handshakes a run has in flight at once: `forks` is the ceiling, and this finds how
//! much of it the fleet can use. When the handshakes share a bottleneck (the runner's CPU or uplink, a
//! jump host, a hypervisor under many client VMs), starting more of them makes each one slower and
//! none of them sooner, while every open session holds memory (about 100 KiB in russh). So the gate
//! starts small and doubles the number in flight while the handshake completion rate follows; when a
//! doubling does not raise the rate by at least half, it goes back and tries again later. Where the
//! handshakes do not share a bottleneck, a doubling doubles the rate; where they do, a round's rate
//! still varies by a tenth or two from round to round, and a smaller bar let that noise through
//! (measured: 1,000 hosts on two shared cores climbed to 128 in flight, 15 MiB more memory, and no
//! sooner).
//!
//! The signal is throughput, not latency: hosts on the far side of a slow link are slower to greet,
//! not a sign of congestion, so a fleet with mixed latencies is not held back.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// Handshakes in flight when a run starts (or `forks`, if smaller).
pub const START: usize = 8;
/// A doubling is kept when it raises the completion rate by this factor.
const GAIN: f64 = 1.5;
/// Rounds to stay at a limit that a doubling did not beat before probing again; doubled after each
/// further failed probe, up to 8 times as many.
const HOLD_ROUNDS: u32 = 3;
/// A round is at least this long, so a burst of instant failures does not decide anything.
const MIN_ROUND: Duration = Duration::from_millis(20);

/// The policy alone, driven by completion times, so it can be tested without a clock.
#[derive(Debug, Clone)]
pub struct Policy {
    max: usize,
    limit: usize,
    round_start: Option<Instant>,
    round_done: usize,
    phase: Phase,
    failed_probes: u32,
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// Measuring the current limit; probe a doubling after `rounds_left` more rounds.
    Hold { rounds_left: u32 },
    /// Measuring a doubled limit against the rate the smaller one had.
    Probe { from: usize, rate: f64 },
}

impl Policy {
    pub fn new(max: usize) -> Policy {
        let max = max.max(1);
        Policy {
            max,
            limit: START.min(max),
            round_start: None,
            round_done: 0,
            failed_probes: 0,
            phase: Phase::Hold { rounds_left: 0 },
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// A handshake started: the first one starts the first round.
    pub fn started(&mut self, now: Instant) {
        self.round_start.get_or_insert(now);
    }

    /// A handshake ended (done or failed: either frees its place). Closes the round once `limit`
    /// handshakes have ended in it, and decides the next limit from the round's completion rate.
    pub fn ended(&mut self, now: Instant) {
        let Some(start) = self.round_start else {
            self.round_start = Some(now);
            return;
        };
        self.round_done += 1;
        let elapsed = now.saturating_duration_since(start);
        if self.round_done < self.limit || elapsed < MIN_ROUND {
            return;
        }
        let rate = self.round_done as f64 / elapsed.as_secs_f64();
        self.round_start = Some(now);
        self.round_done = 0;
        if self.limit >= self.max && !matches!(self.phase, Phase::Probe { .. }) {
            return;
        }
        self.phase = match self.phase.clone() {
            Phase::Hold { rounds_left } if rounds_left > 0 => Phase::Hold {
                rounds_left: rounds_left - 1,
            },
            Phase::Hold { .. } => self.probe(rate),
            Phase::Probe { rate: before, .. } if rate >= before * GAIN => {
                self.failed_probes = 0;
                self.probe(rate)
            }
            Phase::Probe { from, .. } => {
                self.limit = from;
                self.failed_probes += 1;
                Phase::Hold {
                    rounds_left: HOLD_ROUNDS << (self.failed_probes - 1).min(3),
                }
            }
        };
    }

    fn probe(&mut self, rate: f64) -> Phase {
        let from = self.limit;
        if from >= self.max {
            return Phase::Hold {
                rounds_left: HOLD_ROUNDS,
            };
        }
        self.limit = (from * 2).min(self.max);
        Phase::Probe { from, rate }
    }
}

/// The gate the runner's host tasks pass before they open a connection.
pub struct Admission {
    state: Mutex<(Policy, usize)>,
    wake: Notify,
}

/// A place in the gate; dropping it (handshake done or failed) frees the place.
pub struct Ticket {
    gate: Arc<Admission>,
}

impl Admission {
    pub fn new(max: usize) -> Arc<Admission> {
        Arc::new(Admission {
            state: Mutex::new((Policy::new(max), 0)),
            wake: Notify::new(),
        })
    }

    /// Waits for a place (first come, first served).
    pub async fn enter(self: &Arc<Self>) -> Ticket {
        loop {
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                let (policy, in_flight) = &mut *s;
                if *in_flight < policy.limit() {
                    *in_flight += 1;
                    policy.started(Instant::now());
                    return Ticket { gate: self.clone() };
                }
            }
            notified.await;
        }
    }

    /// The current limit (for logs and tests).
    pub fn limit(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .limit()
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let free = {
            let mut s = self
                .gate
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let (policy, in_flight) = &mut *s;
            *in_flight = in_flight.saturating_sub(1);
            let before = policy.limit();
            policy.ended(Instant::now());
            if policy.limit() != before {
                tracing::debug!(
                    from = before,
                    to = policy.limit(),
                    "SSH handshakes in flight"
                );
            }
            policy.limit().saturating_sub(*in_flight)
        };
        for _ in 0..free {
            self.gate.wake.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the policy over `n` handshakes whose completion rate at a given number in flight is
    /// `rate(in_flight)`, and returns the limits it chose, one per handshake.
    fn drive(max: usize, n: usize, rate: impl Fn(usize) -> f64) -> Vec<usize> {
        drive_over_time(max, n, |k, _| rate(k))
    }

    /// As `drive`, with a rate that may also change with the number of handshakes done so far.
    fn drive_over_time(max: usize, n: usize, rate: impl Fn(usize, usize) -> f64) -> Vec<usize> {
        let mut p = Policy::new(max);
        let mut now = Instant::now();
        p.started(now);
        let mut limits = Vec::new();
        for i in 0..n {
            now += Duration::from_secs_f64(1.0 / rate(p.limit(), i));
            p.ended(now);
            p.started(now);
            limits.push(p.limit());
        }
        limits
    }

    #[test]
    fn latency_bound_fleet_grows_to_forks() {
        // Each handshake takes 300 ms whatever the others do: the rate is in_flight / 0.3 s.
        let limits = drive(1000, 5000, |k| k as f64 / 0.3);
        assert_eq!(limits.last(), Some(&1000));
        let first_full = limits.iter().position(|&l| l == 1000);
        assert!(first_full.is_some_and(|i| i < 2500), "{first_full:?}");
    }

    #[test]
    fn shared_bottleneck_stays_small() {
        // The servers share two CPUs: 60 handshakes a second however many are in flight.
        let limits = drive(200, 2000, |_| 60.0);
        let high = limits.iter().copied().max().unwrap_or(0);
        assert!(high <= 2 * START, "limit reached {high}");
        // Most of the time at the smaller limit: the doublings are short probes, rarer as they fail.
        let at_start = limits[1000..].iter().filter(|&&l| l == START).count();
        assert!(at_start >= 800, "{at_start} of 1000");
    }

    #[test]
    fn noise_at_a_shared_bottleneck_is_not_taken_for_gain() {
        // 60 handshakes a second whatever is in flight, each round's rate off by up to 15% either
        // way (a fixed pseudo-random sequence): no doubling may stick.
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut p = Policy::new(1000);
        let mut now = Instant::now();
        p.started(now);
        let mut high = 0;
        let mut noise = 1.0;
        for i in 0..20_000 {
            if i % 8 == 0 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                noise = 0.85 + 0.3 * (seed % 1000) as f64 / 1000.0;
            }
            now += Duration::from_secs_f64(1.0 / (60.0 * noise));
            p.ended(now);
            p.started(now);
            high = high.max(p.limit());
        }
        assert!(high <= 2 * START, "limit reached {high}");
    }

    #[test]
    fn bottleneck_found_at_its_size() {
        // More in flight helps up to 32, not beyond.
        let limits = drive(500, 4000, |k| k.min(32) as f64 / 0.1);
        let settled = &limits[3000..];
        assert!(
            settled.iter().all(|&l| (32..=64).contains(&l)),
            "{:?}",
            &settled[..20]
        );
        assert!(settled.contains(&32));
    }

    #[test]
    fn grows_again_when_the_bottleneck_goes() {
        // A jump host saturated for the first 3000 handshakes, then the far hosts' own latency.
        let limits = drive_over_time(
            256,
            8000,
            |k, i| if i < 3000 { 50.0 } else { k as f64 / 0.2 },
        );
        assert!(limits[..3000].iter().all(|&l| l <= 2 * START));
        assert_eq!(limits.last(), Some(&256));
    }

    #[test]
    fn never_above_forks() {
        assert_eq!(Policy::new(3).limit(), 3);
        let limits = drive(3, 100, |k| k as f64);
        assert!(limits.iter().all(|&l| l == 3));
        assert_eq!(Policy::new(0).limit(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn gate_holds_the_limit_and_lets_everyone_through() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let gate = Admission::new(64);
        let now = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..300 {
            let (gate, now, peak) = (gate.clone(), now.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                let _t = gate.enter().await;
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(n, Ordering::SeqCst);
                // Allowed at this moment: at most the limit, which only changes under the lock.
                tokio::time::sleep(Duration::from_millis(2)).await;
                now.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        let peak = peak.load(Ordering::SeqCst);
        assert!((1..=64).contains(&peak), "peak {peak}");
        assert_eq!(gate.state.lock().map(|s| s.1).ok(), Some(0));
    }
}
