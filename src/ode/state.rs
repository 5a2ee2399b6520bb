//! What an ODE state can be: anything with a componentwise linear combination,
//! eager tensors (untracked solves) or tape variables (differentiated solves).
//!
//! A state is a list of tensors rather than one tensor because the state of a
//! continuous normalizing flow is `(x, log-density, ...)`, parts of different
//! shapes that one solver step advances together.

use crate::autodiff::Var;
use crate::tensor::{Float, Tensor};
use crate::{Result, shape_err};

/// A value a Runge–Kutta solver can advance.
pub trait OdeState: Clone {
    /// `base + Σ cᵢ·kᵢ`, componentwise. Terms with `cᵢ = 0` are skipped, so
    /// a stage that does not use an earlier one neither computes with it nor,
    /// on a tape, records an edge to it; with every `cᵢ = 0` the result is
    /// `base` itself.
    fn lincomb(base: &Self, terms: &[(f64, &Self)]) -> Result<Self>;
}

impl<T: Float> OdeState for Tensor<T> {
    fn lincomb(base: &Self, terms: &[(f64, &Self)]) -> Result<Self> {
        let mut all: Vec<(f64, &Tensor<T>)> = Vec::with_capacity(terms.len() + 1);
        all.push((1.0, base));
        all.extend(terms.iter().filter(|(c, _)| *c != 0.0).copied());
        if all.len() == 1 { Ok(base.clone()) } else { Tensor::lincomb(&all) }
    }
}

impl<'t, T: Float> OdeState for Var<'t, T> {
    fn lincomb(base: &Self, terms: &[(f64, &Self)]) -> Result<Self> {
        let mut all: Vec<(f64, Var<'t, T>)> = Vec::with_capacity(terms.len() + 1);
        all.push((1.0, *base));
        all.extend(terms.iter().filter(|(c, _)| *c != 0.0).map(|&(c, v)| (c, *v)));
        if all.len() == 1 { Ok(*base) } else { Var::lincomb(&all) }
    }
}

/// Componentwise over a list, through the element type's combination.
fn lincomb_parts<X: OdeState>(base: &[X], terms: &[(f64, &Vec<X>)]) -> Result<Vec<X>> {
    if let Some((_, k)) = terms.iter().find(|(_, k)| k.len() != base.len()) {
        shape_err!("ODE state has {} parts, a derivative has {}", base.len(), k.len());
    }
    let mut parts: Vec<(f64, &X)> = Vec::with_capacity(terms.len());
    base.iter()
        .enumerate()
        .map(|(i, b)| {
            parts.clear();
            parts.extend(terms.iter().map(|(c, k)| (*c, &k[i])));
            X::lincomb(b, &parts)
        })
        .collect()
}

impl<T: Float> OdeState for Vec<Tensor<T>> {
    fn lincomb(base: &Self, terms: &[(f64, &Self)]) -> Result<Self> {
        lincomb_parts(base, terms)
    }
}

impl<'t, T: Float> OdeState for Vec<Var<'t, T>> {
    fn lincomb(base: &Self, terms: &[(f64, &Self)]) -> Result<Self> {
        lincomb_parts(base, terms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autodiff::Tape;

    fn t(v: &[f64]) -> Tensor<f64> {
        Tensor::from_f64s(v, [v.len()]).unwrap()
    }

    #[test]
    fn eager_combination_per_part() {
        let y = vec![t(&[1.0, 2.0]), t(&[10.0])];
        let k1 = vec![t(&[1.0, 1.0]), t(&[1.0])];
        let k2 = vec![t(&[0.0, 4.0]), t(&[-2.0])];
        let out = OdeState::lincomb(&y, &[(0.5, &k1), (0.0, &k1), (0.25, &k2)]).unwrap();
        assert_eq!(out[0].to_vec().unwrap(), vec![1.5, 3.5]);
        assert_eq!(out[1].to_vec().unwrap(), vec![10.0]);
    }

    #[test]
    fn mismatched_parts_are_an_error() {
        let y = vec![t(&[1.0]), t(&[2.0])];
        let k = vec![t(&[1.0])];
        assert!(matches!(OdeState::lincomb(&y, &[(1.0, &k)]), Err(crate::Error::Shape(_))));
        let k = vec![t(&[1.0, 2.0]), t(&[2.0])];
        assert!(OdeState::lincomb(&y, &[(1.0, &k)]).is_err());
    }

    #[test]
    fn zero_coefficients_record_nothing() {
        let tape = Tape::new();
        let y = vec![tape.var(t(&[1.0, 2.0]))];
        let k = vec![tape.var(t(&[3.0, 4.0]))];
        let n = tape.len();
        let same = OdeState::lincomb(&y, &[(0.0, &k)]).unwrap();
        assert_eq!(tape.len(), n);
        assert_eq!(same[0].value().to_vec().unwrap(), vec![1.0, 2.0]);
        let out = OdeState::lincomb(&y, &[(2.0, &k)]).unwrap();
        assert_eq!(tape.len(), n + 1, "one lincomb op per part");
        assert_eq!(out[0].value().to_vec().unwrap(), vec![7.0, 10.0]);
        let g = tape.backward(out[0].sum_all().unwrap()).unwrap();
        assert_eq!(g.get(k[0]).unwrap().to_vec().unwrap(), vec![2.0, 2.0]);
        assert_eq!(g.get(y[0]).unwrap().to_vec().unwrap(), vec![1.0, 1.0]);
    }
}
