//! Progress bars with the loss, iterations per second and ETA on a terminal;
//! silent when standard error is not one (logs, pipes, CI).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    pub fn new(len: usize, label: &str) -> Self {
        // Under `mpirun` only rank 0 reports.
        let shown = std::io::stderr().is_terminal() && crate::dist::is_root();
        let target = if shown { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        let bar = ProgressBar::with_draw_target(Some(len as u64), target);
        bar.set_style(
            ProgressStyle::with_template("{prefix:>10} {wide_bar} {pos}/{len} {msg} {per_sec} ETA {eta}")
                .expect("a valid template"),
        );
        bar.set_prefix(label.to_owned());
        Progress { bar }
    }

    /// Moves to `pos` done iterations showing `loss`.
    pub fn update(&self, pos: usize, loss: f64) {
        self.bar.set_position(pos as u64);
        self.bar.set_message(format!("loss {loss:.4}"));
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
