//! [`BatchTuner`]: the call size of a stateful node with `batch_size = "auto"`, picked by
//! the throughput the node measures while it runs.
//!
//! The sizes tried are the powers of two from [`SMALLEST_CALL`] up to the planned batch
//! size, smallest first. Each is timed over at least [`TRIAL_CALLS`] calls and
//! [`TRIAL_ROWS`] rows; the climb stops at the first size that is not at least
//! [`GAIN_TO_CLIMB`] times as fast as the best so far (bigger calls cost memory and balance
//! across partitions, so a size must earn its place), and the best size is kept for the rest
//! of the run. Calls of several partitions at once are timed each on its own: a size's
//! throughput is its rows over the time its calls took.

use std::sync::Mutex;
use std::time::Duration;

/// The smallest call tried.
pub const SMALLEST_CALL: usize = 8;
/// The fewest calls a size is timed over.
const TRIAL_CALLS: usize = 3;
/// The fewest rows a size is timed over.
const TRIAL_ROWS: usize = 256;
/// How much faster than the best so far a bigger size must be for the climb to go on.
const GAIN_TO_CLIMB: f64 = 1.05;

/// Where the tuning stands.
#[derive(Debug)]
struct Tuning {
    /// The sizes to try, smallest first.
    sizes: Vec<usize>,
    /// The size being timed (an index into `sizes`).
    trying: usize,
    /// The calls, rows and time measured for the size being timed.
    calls: usize,
    rows: usize,
    time: Duration,
    /// The fastest size so far, with its rows per second.
    best: Option<(usize, f64)>,
    /// The size kept once the climb is over.
    chosen: Option<usize>,
}

/// The call size of one node, shared by its partitions.
#[derive(Debug)]
pub struct BatchTuner {
    tuning: Mutex<Tuning>,
}

impl BatchTuner {
    /// A tuner for calls of at most `largest` rows.
    pub fn new(largest: usize) -> Self {
        let largest = largest.max(1);
        let mut sizes: Vec<usize> =
            std::iter::successors(Some(SMALLEST_CALL.min(largest)), |&size| {
                (size < largest).then(|| (size * 2).min(largest))
            })
            .collect();
        sizes.dedup();
        Self {
            tuning: Mutex::new(Tuning {
                chosen: (sizes.len() == 1).then(|| sizes[0]),
                sizes,
                trying: 0,
                calls: 0,
                rows: 0,
                time: Duration::ZERO,
                best: None,
            }),
        }
    }

    /// The rows the next call should have.
    pub fn size(&self) -> usize {
        let tuning = self.lock();
        tuning.chosen.unwrap_or(tuning.sizes[tuning.trying])
    }

    /// The size kept, once the tuning is over.
    pub fn chosen(&self) -> Option<usize> {
        self.lock().chosen
    }

    /// Records that a call of `rows` rows, asked for at `size`, took `time`. (A call may
    /// have fewer rows than its size at the end of a batch; its throughput counts the same.)
    pub fn record(&self, size: usize, rows: usize, time: Duration) {
        let mut tuning = self.lock();
        if tuning.chosen.is_some() || tuning.sizes[tuning.trying] != size {
            return;
        }
        tuning.calls += 1;
        tuning.rows += rows;
        tuning.time += time;
        if tuning.calls < TRIAL_CALLS || tuning.rows < TRIAL_ROWS.max(size) {
            return;
        }
        let throughput = tuning.rows as f64 / tuning.time.as_secs_f64().max(1e-9);
        let climbs = tuning
            .best
            .is_none_or(|(_, best)| throughput >= best * GAIN_TO_CLIMB);
        if climbs {
            tuning.best = Some((size, throughput));
        }
        if !climbs || tuning.trying + 1 == tuning.sizes.len() {
            tuning.chosen = tuning.best.map(|(size, _)| size);
        } else {
            tuning.trying += 1;
            tuning.calls = 0;
            tuning.rows = 0;
            tuning.time = Duration::ZERO;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tuning> {
        self.tuning
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives `tuner` with calls whose time is `cost(size)` per call of `size` rows, until
    /// it has chosen; returns the size chosen.
    fn tune(tuner: &BatchTuner, cost: impl Fn(usize) -> Duration) -> usize {
        for _ in 0..10_000 {
            if let Some(chosen) = tuner.chosen() {
                return chosen;
            }
            let size = tuner.size();
            tuner.record(size, size, cost(size));
        }
        panic!("the tuner never chose");
    }

    #[test]
    fn the_climb_stops_where_bigger_calls_stop_paying() {
        // A fixed cost of 1 ms a call plus 10 µs a row: throughput rises quickly, then
        // flattens; the climb goes on while a doubling gains at least 5 %.
        let per_call = |size: usize| Duration::from_micros(1000 + 10 * size as u64);
        let chosen = tune(&BatchTuner::new(1024), per_call);
        assert!(
            (128..=1024).contains(&chosen),
            "chose {chosen} for a per-call cost that pays back until ~200 rows"
        );
        // Calls that get slower per row beyond 32 rows (caches overflow): 32 wins.
        let overflowing = |size: usize| {
            let per_row = if size <= 32 { 10 } else { 40 };
            Duration::from_micros(50 + per_row * size as u64)
        };
        assert_eq!(tune(&BatchTuner::new(1024), overflowing), 32);
    }

    #[test]
    fn sizes_run_from_the_smallest_call_to_the_planned_batch() {
        let flat = |size: usize| Duration::from_micros(size as u64);
        // A flat cost: no size beats the first by 5 %, so the first is kept.
        assert_eq!(tune(&BatchTuner::new(1024), flat), SMALLEST_CALL);
        let tuner = BatchTuner::new(100);
        assert_eq!(tuner.size(), 8);
        // Every call twice as fast per row as the last: the largest, 100, is reached.
        let halving = |size: usize| Duration::from_micros(10_000 / size as u64);
        assert_eq!(tune(&tuner, halving), 100);
        assert_eq!(BatchTuner::new(5).chosen(), Some(5));
    }

    #[test]
    fn calls_at_another_size_or_after_the_choice_change_nothing() {
        let tuner = BatchTuner::new(64);
        tuner.record(64, 64, Duration::from_nanos(1));
        assert_eq!(tuner.size(), SMALLEST_CALL);
        let chosen = tune(&tuner, |size| Duration::from_micros(100 + size as u64));
        tuner.record(chosen, chosen, Duration::from_secs(100));
        assert_eq!(tuner.chosen(), Some(chosen));
    }
}
