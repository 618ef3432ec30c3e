//! Training progress on stderr: an `indicatif` bar on a terminal, plain lines
//! otherwise (one per epoch, or one per log interval), nothing when
//! `verbose` is off.
//!
//! ```text
//! epoch 3/10  loss 0.4123  accuracy 0.9021  val_loss 0.4410  val_accuracy 0.8950  10234 samples/s
//! step 200/5000  loss 2.3456  val_loss 2.4102  lr 3.00e-4  grad_norm 0.873  12345 tokens/s
//! ```

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use crate::callbacks::{EpochLogs, StepLog};

/// The destination of progress output.
enum Output {
    Silent,
    Lines,
    Bar(Option<ProgressBar>),
}

/// The progress display of one `fit` or `fit_batches` call.
pub(crate) struct Progress {
    output: Output,
}

impl Progress {
    /// Chooses a bar when stderr is a terminal, plain lines when it is not,
    /// and nothing when `verbose` is false.
    pub(crate) fn new(verbose: bool) -> Self {
        let output = if !verbose {
            Output::Silent
        } else if std::io::stderr().is_terminal() {
            Output::Bar(None)
        } else {
            Output::Lines
        };
        Progress { output }
    }

    /// Starts epoch `epoch` (from 0) of `epochs`, made of `batches` batches.
    pub(crate) fn begin_epoch(&mut self, epoch: usize, epochs: usize, batches: usize) {
        if let Output::Bar(bar) = &mut self.output {
            let new_bar = ProgressBar::new(batches as u64)
                .with_style(bar_style("epoch {prefix} [{bar:30}] {pos}/{len}  {msg}  ETA {eta}"))
                .with_prefix(format!("{}/{epochs}", epoch + 1));
            *bar = Some(new_bar);
        }
    }

    /// Shows the running means after a batch.
    pub(crate) fn update_batch(&mut self, values: &[(String, f32)], samples_per_s: f32) {
        if let Output::Bar(Some(bar)) = &self.output {
            bar.set_message(format!("{}  {samples_per_s:.0} samples/s", format_values(values)));
            bar.inc(1);
        }
    }

    /// Replaces the epoch's bar with its summary line.
    pub(crate) fn end_epoch(&mut self, epoch: usize, logs: &EpochLogs) {
        let line = format_epoch(epoch, logs);
        match &mut self.output {
            Output::Silent => {}
            Output::Lines => eprintln!("{line}"),
            Output::Bar(bar) => {
                if let Some(bar) = bar.take() {
                    bar.finish_and_clear();
                }
                eprintln!("{line}");
            }
        }
    }

    /// Starts a run of `steps` optimizer steps.
    pub(crate) fn begin_steps(&mut self, steps: usize) {
        if let Output::Bar(bar) = &mut self.output {
            let new_bar =
                ProgressBar::new(steps as u64).with_style(bar_style("step [{bar:30}] {pos}/{len}  {msg}  ETA {eta}"));
            *bar = Some(new_bar);
        }
    }

    /// Advances the step bar by one step.
    pub(crate) fn advance_step(&mut self) {
        if let Output::Bar(Some(bar)) = &self.output {
            bar.inc(1);
        }
    }

    /// Reports a step log: a line in line mode; on a terminal, the bar's
    /// message, plus a line above the bar when the step evaluated.
    pub(crate) fn log_step(&mut self, log: &StepLog) {
        let line = format_step(log);
        match &self.output {
            Output::Silent => {}
            Output::Lines => eprintln!("{line}"),
            Output::Bar(Some(bar)) => {
                if log.val_loss.is_some() {
                    bar.println(&line);
                }
                bar.set_message(format!("loss {:.4}  {:.0} tokens/s", log.loss, log.tokens_per_s));
            }
            Output::Bar(None) => {}
        }
    }

    /// Removes a bar left on screen.
    pub(crate) fn finish(&mut self) {
        if let Output::Bar(bar) = &mut self.output {
            if let Some(bar) = bar.take() {
                bar.finish_and_clear();
            }
        }
    }
}

impl Drop for Progress {
    /// Clears the bar also when training stops on an error.
    fn drop(&mut self) {
        self.finish();
    }
}

fn bar_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).expect("the bar templates in this file are valid").progress_chars("=> ")
}

/// `loss 0.4123  accuracy 0.9021`: four decimals, two spaces between values.
fn format_values(values: &[(String, f32)]) -> String {
    let parts: Vec<String> = values.iter().map(|(name, value)| format!("{name} {value:.4}")).collect();
    parts.join("  ")
}

/// Formats the summary line of epoch `epoch` (from 0), numbered from 1.
pub(crate) fn format_epoch(epoch: usize, logs: &EpochLogs) -> String {
    format!("epoch {}/{}  {}  {:.0} samples/s", epoch + 1, logs.epochs, format_values(&logs.values), logs.samples_per_s)
}

/// Formats the line of a step log.
pub(crate) fn format_step(log: &StepLog) -> String {
    let mut line = format!("step {}/{}  loss {:.4}", log.step, log.steps, log.loss);
    if let Some(val_loss) = log.val_loss {
        line.push_str(&format!("  val_loss {val_loss:.4}"));
    }
    line.push_str(&format!("  lr {:.2e}  grad_norm {:.3}  {:.0} tokens/s", log.lr, log.grad_norm, log.tokens_per_s));
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_line_lists_values() {
        let logs = EpochLogs {
            epochs: 10,
            step: 30,
            values: vec![("loss".into(), 0.41234), ("accuracy".into(), 0.9021), ("val_loss".into(), 0.5)],
            lr: 1e-3,
            samples_per_s: 1234.4,
        };
        assert_eq!(format_epoch(2, &logs), "epoch 3/10  loss 0.4123  accuracy 0.9021  val_loss 0.5000  1234 samples/s");
    }

    #[test]
    fn step_line_shows_val_loss_when_evaluated() {
        let mut log = StepLog {
            step: 200,
            steps: 5000,
            loss: 2.3456,
            lr: 3e-4,
            tokens_per_s: 12345.0,
            val_loss: None,
            grad_norm: 0.8734,
        };
        assert_eq!(format_step(&log), "step 200/5000  loss 2.3456  lr 3.00e-4  grad_norm 0.873  12345 tokens/s");
        log.val_loss = Some(2.41);
        assert!(format_step(&log).contains("  val_loss 2.4100  "));
    }
}
