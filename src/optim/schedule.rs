//! Learning-rate schedules: the rate as a function of the step number.

use std::f64::consts::PI;

/// A learning-rate schedule; [`Schedule::lr`] gives the rate for step `t`
/// (counting from 0).
#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    /// The base rate throughout.
    Constant { lr: f64 },
    /// Multiplied by `gamma` every `every` steps.
    Step { lr: f64, every: u64, gamma: f64 },
    /// Multiplied by `gamma` every step.
    Exponential { lr: f64, gamma: f64 },
    /// Cosine annealing from `lr` to `min_lr` over `total` steps, then `min_lr`.
    Cosine { lr: f64, min_lr: f64, total: u64 },
    /// Linear warm-up from 0 over `steps` steps, then `then` (shifted to start
    /// at the end of the warm-up).
    Warmup { steps: u64, then: Box<Schedule> },
}

impl Schedule {
    pub fn lr(&self, t: u64) -> f64 {
        match self {
            Schedule::Constant { lr } => *lr,
            Schedule::Step { lr, every, gamma } => lr * gamma.powi((t / (*every).max(1)) as i32),
            Schedule::Exponential { lr, gamma } => lr * gamma.powf(t as f64),
            Schedule::Cosine { lr, min_lr, total } => {
                if t >= *total {
                    *min_lr
                } else {
                    min_lr + 0.5 * (lr - min_lr) * (1.0 + (PI * t as f64 / *total as f64).cos())
                }
            }
            Schedule::Warmup { steps, then } => {
                if t < *steps {
                    then.lr(0) * (t + 1) as f64 / *steps as f64
                } else {
                    then.lr(t - steps)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        assert_eq!(Schedule::Constant { lr: 0.1 }.lr(1000), 0.1);
        let s = Schedule::Step { lr: 1.0, every: 10, gamma: 0.5 };
        assert_eq!((s.lr(0), s.lr(9), s.lr(10), s.lr(25)), (1.0, 1.0, 0.5, 0.25));
        let e = Schedule::Exponential { lr: 2.0, gamma: 0.9 };
        assert!((e.lr(3) - 2.0 * 0.729).abs() < 1e-12);
        let c = Schedule::Cosine { lr: 1.0, min_lr: 0.1, total: 100 };
        assert!((c.lr(0) - 1.0).abs() < 1e-12);
        assert!((c.lr(50) - 0.55).abs() < 1e-12);
        assert_eq!(c.lr(100), 0.1);
        let w = Schedule::Warmup { steps: 4, then: Box::new(Schedule::Constant { lr: 1.0 }) };
        assert_eq!((w.lr(0), w.lr(3), w.lr(4)), (0.25, 1.0, 1.0));
    }
}
