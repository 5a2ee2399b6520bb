//! Gradient checking: tape gradients against central finite differences in f64.
//!
//! A non-scalar output is contracted with fixed random weights first, so every
//! output component is checked, not just their sum. Adding a check for a new
//! op is one line: `check_op(&[&[3, 4], &[4]], |v| v[0].add(&v[1])).unwrap()`.
//! Checks run on any device ([`GradCheck::on`]): the inputs, the weights and
//! every finite-difference evaluation live there.

use super::tape::{Tape, Var};
use crate::backend::Device;
use crate::tensor::random::Rng;
use crate::tensor::{Shape, Tensor};
use crate::{Error, Result};

/// Step and tolerances of a check.
#[derive(Clone, Copy, Debug)]
pub struct GradCheck {
    /// Finite-difference step.
    pub step: f64,
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Where the function is evaluated.
    pub device: Device,
}

impl Default for GradCheck {
    fn default() -> Self {
        GradCheck { step: 1e-6, rtol: 1e-6, atol: 1e-8, device: Device::Cpu }
    }
}

/// What a passing check measured.
#[derive(Clone, Copy, Debug)]
pub struct GradCheckReport {
    /// Largest `|analytic − numeric| / (atol + rtol·max(|analytic|, |numeric|))`; ≤ 1 passes.
    pub worst_ratio: f64,
    /// Number of partial derivatives compared.
    pub checked: usize,
}

/// The scalar `Σ f(inputs) ⊙ w` with weights `w` fixed by the output shape.
fn contracted<'t>(tape: &'t Tape<f64>, out: Var<'t, f64>) -> Result<Var<'t, f64>> {
    let shape = out.shape();
    if shape.numel() == 1 {
        return out.reshape(Shape::scalar());
    }
    let mut rng = Rng::seed(0x5eed ^ shape.numel() as u64);
    let w = tape.constant(Tensor::rand_uniform(shape, 0.5, 1.5, &mut rng)?.to_device(out.value().device())?);
    out.mul(&w)?.sum_all()
}

impl GradCheck {
    /// The default check on `device`.
    pub fn on(device: Device) -> Self {
        GradCheck { device, ..GradCheck::default() }
    }

    /// Compares the tape's gradient of `f` at `inputs` with central differences.
    pub fn run<F>(&self, inputs: &[Tensor<f64>], f: F) -> Result<GradCheckReport>
    where
        F: for<'t> Fn(&[Var<'t, f64>]) -> Result<Var<'t, f64>>,
    {
        let eval = |xs: &[Tensor<f64>]| -> Result<f64> {
            let tape = Tape::new();
            let vars: Vec<_> = xs.iter().map(|x| tape.constant(x.clone())).collect();
            contracted(&tape, f(&vars)?)?.value().item()
        };
        let device = self.device;
        let at = |v: Vec<f64>, x: &Tensor<f64>| Tensor::from_vec(v, x.shape().clone())?.to_device(device);
        let inputs: Vec<Tensor<f64>> = inputs.iter().map(|x| x.to_device(device)).collect::<Result<_>>()?;
        let tape = Tape::new();
        let vars: Vec<_> = inputs.iter().map(|x| tape.var(x.clone())).collect();
        let loss = contracted(&tape, f(&vars)?)?;
        let grads = tape.backward(loss)?;
        let mut report = GradCheckReport { worst_ratio: 0.0, checked: 0 };
        for (i, x) in inputs.iter().enumerate() {
            let analytic = grads.get_or_zeros(vars[i])?.to_vec()?;
            let base = x.to_vec()?;
            for j in 0..base.len() {
                let mut xs: Vec<Tensor<f64>> = inputs.to_vec();
                let mut shifted = base.clone();
                shifted[j] = base[j] + self.step;
                xs[i] = at(shifted.clone(), x)?;
                let up = eval(&xs)?;
                shifted[j] = base[j] - self.step;
                xs[i] = at(shifted, x)?;
                let down = eval(&xs)?;
                let numeric = (up - down) / (2.0 * self.step);
                let a = analytic[j];
                let ratio = (a - numeric).abs() / (self.atol + self.rtol * a.abs().max(numeric.abs()));
                // NaN ratios fail too.
                if ratio.is_nan() || ratio > 1.0 {
                    return Err(Error::NonFinite(format!(
                        "gradient check failed: input {i} element {j}: analytic {a:e}, numeric {numeric:e}"
                    )));
                }
                report.worst_ratio = report.worst_ratio.max(ratio);
                report.checked += 1;
            }
        }
        Ok(report)
    }
}

/// Random inputs of the given shapes, uniform on `[lo, hi)`, seeded by their shapes.
pub fn random_inputs(shapes: &[&[usize]], lo: f64, hi: f64) -> Vec<Tensor<f64>> {
    let mut rng = Rng::seed(0xc0ffee + shapes.iter().map(|s| s.iter().sum::<usize>() as u64).sum::<u64>());
    shapes.iter().map(|s| Tensor::rand_uniform(*s, lo, hi, &mut rng).expect("shape and data agree")).collect()
}

/// Checks `f` at random inputs of `shapes` drawn from `[-2, 2)`.
pub fn check_op<F>(shapes: &[&[usize]], f: F) -> Result<GradCheckReport>
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Result<Var<'t, f64>>,
{
    check_op_on(Device::Cpu, shapes, f)
}

/// [`check_op`] on `device`.
pub fn check_op_on<F>(device: Device, shapes: &[&[usize]], f: F) -> Result<GradCheckReport>
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Result<Var<'t, f64>>,
{
    GradCheck::on(device).run(&random_inputs(shapes, -2.0, 2.0), f)
}

/// Checks `f` at random inputs of `shapes` drawn from `[0.5, 2)` (for ops
/// defined on positive numbers: log, sqrt, division).
pub fn check_op_positive<F>(shapes: &[&[usize]], f: F) -> Result<GradCheckReport>
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Result<Var<'t, f64>>,
{
    check_op_positive_on(Device::Cpu, shapes, f)
}

/// [`check_op_positive`] on `device`.
pub fn check_op_positive_on<F>(device: Device, shapes: &[&[usize]], f: F) -> Result<GradCheckReport>
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Result<Var<'t, f64>>,
{
    GradCheck::on(device).run(&random_inputs(shapes, 0.5, 2.0), f)
}
