//! The progress bar of long runs: rows done, rows per second and time left, on stderr
//! (and only when stderr is a terminal).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar, or nothing when quiet.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar towards `total` rows when known, else a counter.
    pub fn new(total: Option<usize>, quiet: bool) -> Self {
        if quiet {
            return Self { bar: None };
        }
        let (bar, template) = match total {
            Some(total) => (
                ProgressBar::new(total as u64),
                "{bar:30} {human_pos}/{human_len} rows  {per_sec}  ETA {eta}",
            ),
            None => (
                ProgressBar::new_spinner(),
                "{spinner} {human_pos} rows  {per_sec}",
            ),
        };
        bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        Self { bar: Some(bar) }
    }

    /// Shows `rows` done.
    pub fn set(&self, rows: usize) {
        if let Some(bar) = &self.bar {
            bar.set_position(rows as u64);
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
