//! Training progress on stderr: an indicatif bar with ETA and a message (loss, ESS) when stderr
//! is a terminal; plain lines every ~5 % of the steps or every 2 s otherwise (logs, CI); nothing
//! when quiet. Presentation only: callers pass preformatted messages.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Minimum time between plain lines.
const LINE_INTERVAL: Duration = Duration::from_secs(2);
/// Plain lines per run when steps are slow enough to be printed at every interval.
const LINES_PER_RUN: u64 = 20;

/// Progress reporter for a run of `total_steps` steps.
pub struct Progress {
    mode: Mode,
    total: u64,
    start: Instant,
}

enum Mode {
    Quiet,
    Bar(ProgressBar),
    Lines { every: u64, last_step: u64, last_print: Instant },
}

impl Mode {
    /// Plain lines every 1/[`LINES_PER_RUN`] of `total_steps` (or [`LINE_INTERVAL`]) from `start`.
    fn lines(total_steps: u64, start: Instant) -> Self {
        Mode::Lines { every: (total_steps / LINES_PER_RUN).max(1), last_step: 0, last_print: start }
    }
}

impl Progress {
    /// A bar on a terminal, plain lines otherwise, nothing if `quiet`.
    pub fn new(total_steps: u64, quiet: bool) -> Self {
        let start = Instant::now();
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total_steps);
            let style =
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} ({eta} left) {msg}")
                    .expect("template is valid");
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            Mode::Bar(bar)
        } else {
            Mode::lines(total_steps, start)
        };
        Self { mode, total: total_steps, start }
    }

    /// Reports that `step` steps are done; `msg` is e.g. "loss 1.234  ESS 87.1".
    pub fn update(&mut self, step: u64, msg: &str) {
        if let Mode::Bar(bar) = &self.mode {
            bar.set_position(step);
            bar.set_message(msg.to_string());
        } else if let Some(text) = self.due_line(step, msg, Instant::now()) {
            eprintln!("{text}");
        }
    }

    /// The plain line for `step` at time `now` if one is due: `every` steps or
    /// [`LINE_INTERVAL`] after the last one. Never in quiet or bar mode.
    fn due_line(&mut self, step: u64, msg: &str, now: Instant) -> Option<String> {
        let Mode::Lines { every, last_step, last_print } = &mut self.mode else { return None };
        if step < *last_step + *every && now.duration_since(*last_print) < LINE_INTERVAL {
            return None;
        }
        *last_step = step;
        *last_print = now;
        Some(line(step, self.total, now.duration_since(self.start), msg))
    }

    /// Prints a warning line above the bar (or as a plain line); shown even when quiet.
    pub fn warn(&self, msg: &str) {
        match &self.mode {
            Mode::Bar(bar) => bar.println(format!("warning: {msg}")),
            _ => eprintln!("warning: {msg}"),
        }
    }

    /// Ends the run with a final message (always printed unless quiet).
    pub fn finish(&mut self, msg: &str) {
        match &self.mode {
            Mode::Quiet => {}
            Mode::Bar(bar) => bar.finish_with_message(msg.to_string()),
            Mode::Lines { .. } => eprintln!("done in {}: {msg}", seconds(self.start.elapsed())),
        }
    }
}

/// `step 120/1000 (12%) 3.1s, eta 22.7s: loss 1.23`
fn line(step: u64, total: u64, elapsed: Duration, msg: &str) -> String {
    let frac = if total == 0 { 1.0 } else { step.min(total) as f64 / total as f64 };
    let eta = if frac > 0.0 { Some(elapsed.mul_f64((1.0 - frac) / frac)) } else { None };
    let eta = eta.map_or_else(|| "?".to_string(), seconds);
    format!("step {step}/{total} ({:.0}%) {}, eta {eta}: {msg}", 100.0 * frac, seconds(elapsed))
}

fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_line_shows_fraction_and_eta() {
        let s = line(250, 1000, Duration::from_secs(5), "loss 1.5");
        assert_eq!(s, "step 250/1000 (25%) 5.0s, eta 15.0s: loss 1.5");
        assert_eq!(line(0, 10, Duration::ZERO, "x"), "step 0/10 (0%) 0.0s, eta ?: x");
    }

    /// The steps of `1..=steps` at which a line is due, one step every `step_time`.
    fn printed_steps(p: &mut Progress, steps: u64, step_time: Duration) -> Vec<u64> {
        let start = p.start;
        (1..=steps).filter(|&s| p.due_line(s, "loss 0", start + step_time * s as u32).is_some()).collect()
    }

    #[test]
    fn quiet_progress_prints_no_line() {
        let mut p = Progress::new(100, true);
        assert_eq!(printed_steps(&mut p, 100, LINE_INTERVAL), Vec::<u64>::new());
    }

    #[test]
    fn plain_lines_come_every_twentieth_of_the_run_or_every_interval() {
        let lines = |total: u64| {
            let start = Instant::now();
            Progress { mode: Mode::lines(total, start), total, start }
        };
        // Fast steps: every 5 % of the run, no more.
        let fast = printed_steps(&mut lines(100), 100, Duration::from_millis(1));
        assert_eq!(fast, (1..=20).map(|k| 5 * k).collect::<Vec<_>>());
        // Slow steps (one interval each) in a long run: every step, long before 5 % of it.
        assert_eq!(printed_steps(&mut lines(1000), 10, LINE_INTERVAL), (1..=10).collect::<Vec<_>>());
        // The line names the step and the time since the start.
        let mut p = lines(1000);
        let at = p.start + Duration::from_secs(5);
        assert_eq!(p.due_line(250, "loss 1.5", at).as_deref(), Some("step 250/1000 (25%) 5.0s, eta 15.0s: loss 1.5"));
    }
}
