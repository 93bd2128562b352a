//! When to ping next while waiting for a daemon to answer.
//!
//! The pure-Ruby gem pings, sleeps `ping_interval`, and pings again. This
//! schedule keeps every ping of that fixed schedule (so a daemon is never
//! noticed later than it would notice it) and adds earlier ones:
//! - a cheap ping (a TCP, Unix-socket or HTTP connection) follows the last
//!   after 4% of the time waited so far, so a daemon is noticed within 5% of
//!   that time (the rest covers millisecond wake-up granularity);
//! - an expensive ping (a command, a Proc, a Method) pauses at least as long
//!   as it took, and at least as long as pinging has gone on, so pings take
//!   at most half the wait and run about twice as often as on the fixed
//!   schedule when the wait is shorter than `ping_interval`.
//!
//! No pause is ever longer than `ping_interval`.

use std::time::{Duration, Instant};

/// What a ping costs, judged by its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PingCost {
    /// A connection attempt: microseconds.
    Cheap,
    /// A program or Ruby code: anything up to seconds.
    Expensive,
}

/// The share of the time waited that a cheap ping pauses.
const CHEAP_SHARE: f64 = 0.04;
/// The shortest pause between two cheap pings.
const SHORTEST_PAUSE: Duration = Duration::from_micros(250);

#[derive(Debug, Clone)]
pub struct PingSchedule {
    cost: PingCost,
    interval: Duration,
    /// When the whole wait began (`start` was called): the 5% rule's origin.
    waiting_since: Instant,
    /// When the first ping began: the fixed schedule's origin.
    pinging_since: Instant,
}

impl PingSchedule {
    pub fn new(
        cost: PingCost,
        interval: Duration,
        waiting_since: Instant,
        pinging_since: Instant,
    ) -> PingSchedule {
        PingSchedule {
            cost,
            interval,
            waiting_since,
            pinging_since,
        }
    }

    /// When to run the next ping, given when the last one began and ended.
    pub fn next_ping(&self, began: Instant, ended: Instant) -> Instant {
        let took = ended.saturating_duration_since(began);
        let pause = match self.cost {
            PingCost::Cheap => ended
                .saturating_duration_since(self.waiting_since)
                .mul_f64(CHEAP_SHARE)
                .max(SHORTEST_PAUSE),
            PingCost::Expensive => ended.saturating_duration_since(self.pinging_since),
        };
        let next = (ended + pause).min(self.next_fixed_ping(ended, took));
        let floor = match self.cost {
            PingCost::Cheap => Duration::ZERO,
            PingCost::Expensive => took,
        };
        ended
            + next
                .saturating_duration_since(ended)
                .max(floor)
                .min(self.interval)
    }

    /// The first ping of the fixed schedule after `after`: the pure-Ruby gem
    /// pings every `ping_interval` plus what a ping takes.
    fn next_fixed_ping(&self, after: Instant, took: Duration) -> Instant {
        let period = self.interval + took;
        if period.is_zero() {
            return after;
        }
        let since = after.saturating_duration_since(self.pinging_since);
        let periods = (since.as_nanos() / period.as_nanos()) + 1;
        self.pinging_since + period * u32::try_from(periods).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// A simulated wait on a fake clock: the daemon answers pings that begin
    /// (cheap) or end (expensive, as a command checks at its end) at or after
    /// `ready`. Returns the times of the pings that began, the last one the
    /// success.
    fn simulate(
        schedule: &PingSchedule,
        ping_takes: Duration,
        ready: Instant,
    ) -> Vec<(Instant, Instant)> {
        let mut pings = Vec::new();
        let mut began = schedule.pinging_since;
        loop {
            let ended = began + ping_takes;
            pings.push((began, ended));
            let checked_at = match schedule.cost {
                PingCost::Cheap => began,
                PingCost::Expensive => ended,
            };
            if checked_at >= ready || pings.len() > 100_000 {
                return pings;
            }
            began = schedule.next_ping(began, ended);
        }
    }

    /// When the pure-Ruby gem's fixed schedule sees the daemon: its pings
    /// begin every interval plus what a ping takes.
    fn fixed_schedule_notices(
        cost: PingCost,
        interval: Duration,
        ping_takes: Duration,
        since: Instant,
        ready: Instant,
    ) -> (Instant, usize) {
        let mut began = since;
        let mut runs = 0;
        loop {
            runs += 1;
            let checked_at = match cost {
                PingCost::Cheap => began,
                PingCost::Expensive => began + ping_takes,
            };
            if checked_at >= ready {
                // It pings once more after its wait loop ends.
                return (began + ping_takes, runs + 1);
            }
            began += ping_takes + interval;
        }
    }

    fn pauses(pings: &[(Instant, Instant)]) -> Vec<Duration> {
        pings.windows(2).map(|pair| pair[1].0 - pair[0].1).collect()
    }

    #[test]
    fn cheap_pings_notice_within_five_percent_and_never_after_the_fixed_schedule() {
        let origin = Instant::now();
        for interval_ms in [100, 1000, 5000] {
            let interval = interval_ms * MS;
            // Pinging begins 60 ms into the wait (the PID file appears).
            let pinging_since = origin + 60 * MS;
            let schedule = PingSchedule::new(PingCost::Cheap, interval, origin, pinging_since);
            let takes = Duration::from_micros(50);
            for ready_ms in (61..12_000).step_by(7) {
                let ready = origin + ready_ms * MS + Duration::from_micros(301);
                let pings = simulate(&schedule, takes, ready);
                let noticed = pings.last().unwrap().1;
                let late = noticed - ready;
                let bound = (ready - origin).mul_f64(0.05) + MS / 2;
                assert!(
                    late <= bound,
                    "{interval_ms} ms, ready {ready_ms} ms: {late:?} late, bound {bound:?}"
                );
                let (fixed, _) =
                    fixed_schedule_notices(PingCost::Cheap, interval, takes, pinging_since, ready);
                assert!(
                    noticed <= fixed,
                    "{interval_ms} ms, ready {ready_ms} ms: after the fixed schedule"
                );
                assert!(pauses(&pings).iter().all(|&pause| pause <= interval));
            }
        }
    }

    #[test]
    fn expensive_pings_pause_at_least_their_cost_and_at_most_the_interval() {
        let origin = Instant::now();
        for (interval_ms, takes_ms) in [(5000, 200), (100, 200), (1000, 30), (100, 1), (10, 50)] {
            let interval = interval_ms * MS;
            let takes = takes_ms * MS;
            let schedule = PingSchedule::new(PingCost::Expensive, interval, origin, origin);
            for ready_ms in (0..20_000).step_by(97) {
                let pings = simulate(&schedule, takes, origin + ready_ms * MS);
                for pause in pauses(&pings) {
                    assert!(
                        pause <= interval,
                        "a pause of {pause:?} with interval {interval:?}"
                    );
                    assert!(
                        pause >= takes.min(interval),
                        "a pause of {pause:?} after a {takes:?} ping"
                    );
                }
            }
        }
    }

    #[test]
    fn a_200_ms_command_runs_at_most_twice_as_often_as_on_the_fixed_schedule() {
        let origin = Instant::now();
        let takes = 200 * MS;
        for interval_ms in [100, 1000, 5000] {
            let interval = interval_ms * MS;
            let schedule = PingSchedule::new(PingCost::Expensive, interval, origin, origin);
            for ready_ms in (0..20_000).step_by(97) {
                let ready = origin + ready_ms * MS;
                let pings = simulate(&schedule, takes, ready);
                let (_, fixed_runs) =
                    fixed_schedule_notices(PingCost::Expensive, interval, takes, origin, ready);
                assert!(
                    pings.len() <= 2 * fixed_runs,
                    "interval {interval_ms} ms, ready {ready_ms} ms: {} runs against {fixed_runs}",
                    pings.len()
                );
            }
        }
    }

    #[test]
    fn a_slow_command_with_a_long_interval_runs_a_handful_of_times() {
        let origin = Instant::now();
        let schedule = PingSchedule::new(PingCost::Expensive, 5000 * MS, origin, origin);
        let pings = simulate(&schedule, 200 * MS, origin + 4500 * MS);
        let (fixed_at, fixed_runs) = fixed_schedule_notices(
            PingCost::Expensive,
            5000 * MS,
            200 * MS,
            origin,
            origin + 4500 * MS,
        );
        assert!(
            pings.len() <= 2 * fixed_runs,
            "{} runs against {fixed_runs}",
            pings.len()
        );
        assert!(pings.last().unwrap().1 <= fixed_at);
    }
}
