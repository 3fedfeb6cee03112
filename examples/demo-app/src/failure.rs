//! The deterministic failure schedule: which `/` requests are answered 500.
//!
//! Request `n` (from 1) fails when `floor(n * rate) > floor((n - 1) * rate)`, computed in
//! parts per million so that a rate of 0.2 fails exactly every 5th request.

const SCALE: u64 = 1_000_000;

/// Decides, from a request's sequence number, whether it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureSchedule {
    ppm: u64,
}

impl FailureSchedule {
    /// A schedule failing the fraction `rate` (clamped to 0.0..=1.0) of requests.
    pub fn new(rate: f64) -> Self {
        let ppm = (rate.clamp(0.0, 1.0) * SCALE as f64).round() as u64;
        Self { ppm }
    }

    /// Whether request number `n` (the first request is 1) is answered 500.
    pub fn fails(&self, n: u64) -> bool {
        n > 0 && (n * self.ppm) / SCALE > ((n - 1) * self.ppm) / SCALE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failing(rate: f64, count: u64) -> Vec<u64> {
        let schedule = FailureSchedule::new(rate);
        (1..=count).filter(|&n| schedule.fails(n)).collect()
    }

    #[test]
    fn twenty_percent_fails_exactly_every_fifth_request() {
        assert_eq!(failing(0.2, 25), vec![5, 10, 15, 20, 25]);
    }

    #[test]
    fn failure_counts_match_the_rate_exactly() {
        let cases = [
            (0.0, 100, 0),
            (0.01, 100, 1),
            (0.05, 100, 5),
            (0.1, 50, 5),
            (0.2, 50, 10),
            (0.3, 10, 3),
            (0.5, 10, 5),
            (1.0, 7, 7),
        ];
        for (rate, requests, expected) in cases {
            assert_eq!(
                failing(rate, requests).len() as u64,
                expected,
                "rate {rate}"
            );
        }
    }

    #[test]
    fn half_rate_alternates_starting_with_a_success() {
        assert_eq!(failing(0.5, 6), vec![2, 4, 6]);
    }

    #[test]
    fn out_of_range_rates_are_clamped() {
        assert!(failing(-1.0, 10).is_empty());
        assert_eq!(failing(2.0, 3), vec![1, 2, 3]);
    }
}
