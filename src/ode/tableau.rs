//! Butcher tableaus of explicit Runge–Kutta methods, as data the solvers read.
//!
//! A method with `s` stages advances `y` by `h` as
//!
//! ```text
//! kᵢ    = f(t + cᵢ·h, y + h·Σ_{j<i} aᵢⱼ·kⱼ)      i = 0..s
//! y_new = y + h·Σᵢ bᵢ·kᵢ
//! err   = h·Σᵢ b_errᵢ·kᵢ                        (embedded pairs only)
//! ```
//!
//! Coefficients are written as the fractions of the literature, evaluated in
//! f64 at compile time, so they round exactly as torchdiffeq's Python
//! expressions do.

use crate::{Result, invalid_arg};

/// An explicit Runge–Kutta method.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tableau {
    pub name: &'static str,
    /// Stage times as fractions of the step (`c[0] = 0`).
    pub c: &'static [f64],
    /// Stage coupling: row `i` holds `aᵢ₀ .. aᵢ,ᵢ₋₁` (strictly lower triangular,
    /// so row 0 is empty).
    pub a: &'static [&'static [f64]],
    /// Weights of the solution.
    pub b: &'static [f64],
    /// `b − b̂`, where `b̂` are the weights of the embedded lower-order solution:
    /// `h·Σ b_errᵢ·kᵢ` estimates the local error. `None` for methods without one.
    pub b_err: Option<&'static [f64]>,
    /// Order of the `b` solution; the embedded one has order `order − 1`.
    pub order: u32,
    /// First Same As Last: the last stage is evaluated at the new solution
    /// (`c = 1`, last row of `a` equal to `b`, last `b` zero), so its
    /// derivative is the next step's first stage.
    pub fsal: bool,
}

impl Tableau {
    /// Number of stages.
    pub fn stages(&self) -> usize {
        self.c.len()
    }

    /// Order of the embedded error estimate, if the method has one.
    pub fn error_order(&self) -> Option<u32> {
        self.b_err.map(|_| self.order - 1)
    }

    /// Checks the structure the solvers rely on (lengths, strict lower
    /// triangularity, finiteness, the FSAL property when claimed). The
    /// accuracy conditions (row sums, order conditions) are not checked here:
    /// a method violating them still runs, it is just not of its stated order.
    pub fn validate(&self) -> Result<()> {
        let s = self.c.len();
        if s == 0 {
            invalid_arg!("tableau {}: no stages", self.name);
        }
        if self.a.len() != s || self.b.len() != s {
            invalid_arg!(
                "tableau {}: {} stage times, {} rows of a, {} weights b (all must agree)",
                self.name,
                s,
                self.a.len(),
                self.b.len()
            );
        }
        if let Some((i, row)) = self.a.iter().enumerate().find(|(i, row)| row.len() != *i) {
            invalid_arg!("tableau {}: row {i} of a has {} entries, an explicit method needs {i}", self.name, row.len());
        }
        if let Some(e) = self.b_err
            && e.len() != s
        {
            invalid_arg!("tableau {}: {} error weights for {s} stages", self.name, e.len());
        }
        let all =
            self.c.iter().chain(self.b).chain(self.a.iter().flat_map(|r| r.iter())).chain(self.b_err.unwrap_or(&[]));
        if all.copied().any(|x| !x.is_finite()) {
            invalid_arg!("tableau {}: non-finite coefficient", self.name);
        }
        if self.order == 0 || (self.b_err.is_some() && self.order < 2) {
            invalid_arg!("tableau {}: order {} (an embedded pair needs order ≥ 2)", self.name, self.order);
        }
        if self.fsal {
            let last = s - 1;
            if s < 2 || self.c[last] != 1.0 || self.b[last] != 0.0 || self.a[last] != &self.b[..last] {
                invalid_arg!("tableau {}: marked FSAL, but its last stage is not the new solution", self.name);
            }
        }
        Ok(())
    }
}

/// Forward Euler, order 1.
pub const EULER: Tableau =
    Tableau { name: "euler", c: &[0.0], a: &[&[]], b: &[1.0], b_err: None, order: 1, fsal: false };

/// The explicit midpoint rule, order 2 (torchdiffeq's `midpoint`).
pub const MIDPOINT: Tableau =
    Tableau { name: "midpoint", c: &[0.0, 0.5], a: &[&[], &[0.5]], b: &[0.0, 1.0], b_err: None, order: 2, fsal: false };

/// Heun's method (explicit trapezoid), order 2, with forward Euler embedded
/// for the error estimate (torchdiffeq's `adaptive_heun`).
pub const HEUN: Tableau = Tableau {
    name: "heun",
    c: &[0.0, 1.0],
    a: &[&[], &[1.0]],
    b: &[0.5, 0.5],
    b_err: Some(&[0.5 - 1.0, 0.5]),
    order: 2,
    fsal: false,
};

/// Bogacki–Shampine 3(2), FSAL (torchdiffeq's `bosh3`).
pub const BOSH3: Tableau = Tableau {
    name: "bosh3",
    c: &[0.0, 1.0 / 2.0, 3.0 / 4.0, 1.0],
    a: &[&[], &[1.0 / 2.0], &[0.0, 3.0 / 4.0], &[2.0 / 9.0, 1.0 / 3.0, 4.0 / 9.0]],
    b: &[2.0 / 9.0, 1.0 / 3.0, 4.0 / 9.0, 0.0],
    b_err: Some(&[2.0 / 9.0 - 7.0 / 24.0, 1.0 / 3.0 - 1.0 / 4.0, 4.0 / 9.0 - 1.0 / 3.0, -1.0 / 8.0]),
    order: 3,
    fsal: true,
};

/// The classic Runge–Kutta method, order 4.
pub const RK4: Tableau = Tableau {
    name: "rk4",
    c: &[0.0, 0.5, 0.5, 1.0],
    a: &[&[], &[0.5], &[0.0, 0.5], &[0.0, 0.0, 1.0]],
    b: &[1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0],
    b_err: None,
    order: 4,
    fsal: false,
};

/// Kutta's 3/8 rule, order 4. This is the step torchdiffeq's fixed-grid
/// `rk4` method takes (`rk4_alt_step_func`), not the classic [`RK4`].
pub const RK4_38: Tableau = Tableau {
    name: "rk4_38",
    c: &[0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0],
    a: &[&[], &[1.0 / 3.0], &[-1.0 / 3.0, 1.0], &[1.0, -1.0, 1.0]],
    b: &[1.0 / 8.0, 3.0 / 8.0, 3.0 / 8.0, 1.0 / 8.0],
    b_err: None,
    order: 4,
    fsal: false,
};

/// Dormand–Prince 5(4), FSAL. The embedded 4th-order weights are Shampine's
/// (`1951/21600, 0, 22642/50085, ...`), as in torchdiffeq's `dopri5`, not the
/// `5179/57600, ...` of Hairer's DOPRI5 code: both are 4th order, and using
/// torchdiffeq's makes the step-size sequence comparable with it.
pub const DOPRI5: Tableau = Tableau {
    name: "dopri5",
    c: &[0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0, 1.0],
    a: &[
        &[],
        &[1.0 / 5.0],
        &[3.0 / 40.0, 9.0 / 40.0],
        &[44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0],
        &[19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0],
        &[9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0],
        &[35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0],
    ],
    b: &[35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0, 0.0],
    b_err: Some(&[
        35.0 / 384.0 - 1951.0 / 21600.0,
        0.0,
        500.0 / 1113.0 - 22642.0 / 50085.0,
        125.0 / 192.0 - 451.0 / 720.0,
        -2187.0 / 6784.0 - -12231.0 / 42400.0,
        11.0 / 84.0 - 649.0 / 6300.0,
        -1.0 / 60.0,
    ]),
    order: 5,
    fsal: true,
};

/// Every built-in tableau.
pub const ALL: &[&Tableau] = &[&EULER, &MIDPOINT, &HEUN, &BOSH3, &RK4, &RK4_38, &DOPRI5];

/// A built-in tableau by name: `euler`, `midpoint`, `heun`, `bosh3`, `rk4`,
/// `rk4_38`, `dopri5`.
pub fn by_name(name: &str) -> Result<&'static Tableau> {
    match ALL.iter().find(|t| t.name == name) {
        Some(t) => Ok(t),
        None => {
            let names: Vec<&str> = ALL.iter().map(|t| t.name).collect();
            invalid_arg!("unknown Runge–Kutta method {name:?} (known: {})", names.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `A·v` for the strictly lower-triangular `a`.
    fn a_mul(t: &Tableau, v: &[f64]) -> Vec<f64> {
        t.a.iter().map(|row| row.iter().zip(v).map(|(a, x)| a * x).sum()).collect()
    }
    fn dot(u: &[f64], v: &[f64]) -> f64 {
        u.iter().zip(v).map(|(a, b)| a * b).sum()
    }
    fn hadamard(u: &[f64], v: &[f64]) -> Vec<f64> {
        u.iter().zip(v).map(|(a, b)| a * b).collect()
    }

    /// `(Σ wᵢ Φᵢ(τ), 1/γ(τ))` for every rooted tree τ of `order` nodes: the
    /// weights `w` give an order-p method iff the pairs agree for all trees
    /// of up to p nodes.
    fn conditions(t: &Tableau, w: &[f64], order: u32) -> Vec<(f64, f64)> {
        let c = t.c;
        let c2 = hadamard(c, c);
        let c3 = hadamard(&c2, c);
        let ac = a_mul(t, c);
        let ac2 = a_mul(t, &c2);
        let aac = a_mul(t, &ac);
        let ones = vec![1.0; c.len()];
        match order {
            1 => vec![(dot(w, &ones), 1.0)],
            2 => vec![(dot(w, c), 1.0 / 2.0)],
            3 => vec![(dot(w, &c2), 1.0 / 3.0), (dot(w, &ac), 1.0 / 6.0)],
            4 => vec![
                (dot(w, &c3), 1.0 / 4.0),
                (dot(w, &hadamard(c, &ac)), 1.0 / 8.0),
                (dot(w, &ac2), 1.0 / 12.0),
                (dot(w, &aac), 1.0 / 24.0),
            ],
            5 => vec![
                (dot(w, &hadamard(&c3, c)), 1.0 / 5.0),
                (dot(w, &hadamard(&c2, &ac)), 1.0 / 10.0),
                (dot(w, &hadamard(c, &ac2)), 1.0 / 15.0),
                (dot(w, &hadamard(c, &aac)), 1.0 / 30.0),
                (dot(w, &hadamard(&ac, &ac)), 1.0 / 20.0),
                (dot(w, &a_mul(t, &c3)), 1.0 / 20.0),
                (dot(w, &a_mul(t, &hadamard(c, &ac))), 1.0 / 40.0),
                (dot(w, &a_mul(t, &ac2)), 1.0 / 60.0),
                (dot(w, &a_mul(t, &aac)), 1.0 / 120.0),
            ],
            _ => unreachable!("order conditions are written out up to order 5"),
        }
    }

    fn check_order(t: &Tableau, w: &[f64], order: u32, what: &str) {
        for p in 1..=order {
            for (k, (got, want)) in conditions(t, w, p).into_iter().enumerate() {
                assert!((got - want).abs() < 1e-14, "{} ({what}): order-{p} condition {k}: {got} ≠ {want}", t.name);
            }
        }
    }

    #[test]
    fn tableaus_are_consistent() {
        for t in ALL {
            t.validate().unwrap();
            assert_eq!(t.c[0], 0.0, "{}", t.name);
            for (i, row) in t.a.iter().enumerate() {
                let s: f64 = row.iter().sum();
                assert!((s - t.c[i]).abs() < 1e-15, "{}: row {i} of a sums to {s}, c = {}", t.name, t.c[i]);
            }
            check_order(t, t.b, t.order, "solution");
            if let Some(e) = t.b_err {
                let b_hat: Vec<f64> = t.b.iter().zip(e).map(|(b, e)| b - e).collect();
                check_order(t, &b_hat, t.order - 1, "embedded");
                // The embedded solution must really be of lower order, or the
                // error estimate is no estimate.
                let next = conditions(t, &b_hat, t.order);
                assert!(next.iter().any(|(g, w)| (g - w).abs() > 1e-6), "{}: embedded weights too accurate", t.name);
            }
        }
    }

    #[test]
    fn stated_order_is_not_exceeded() {
        // Guards the order checks themselves: each method fails the next order.
        for t in ALL.iter().filter(|t| t.order < 5) {
            let next = conditions(t, t.b, t.order + 1);
            assert!(next.iter().any(|(g, w)| (g - w).abs() > 1e-6), "{} is of higher order than stated", t.name);
        }
    }

    #[test]
    fn lookup_by_name() {
        for name in ["euler", "midpoint", "heun", "bosh3", "rk4", "rk4_38", "dopri5"] {
            assert_eq!(by_name(name).unwrap().name, name);
        }
        assert_eq!(*by_name("rk4_38").unwrap(), RK4_38);
        let e = by_name("rk45").unwrap_err().to_string();
        assert!(e.contains("rk45") && e.contains("dopri5"), "{e}");
    }

    #[test]
    fn validate_rejects_malformed() {
        let ragged = Tableau { a: &[&[], &[0.5, 0.5]], ..MIDPOINT };
        assert!(ragged.validate().is_err());
        let short_b = Tableau { b: &[1.0], ..MIDPOINT };
        assert!(short_b.validate().is_err());
        let false_fsal = Tableau { fsal: true, ..RK4 };
        assert!(false_fsal.validate().is_err());
        let bad_err = Tableau { b_err: Some(&[1.0]), ..HEUN };
        assert!(bad_err.validate().is_err());
        let nan = Tableau { c: &[0.0, f64::NAN], ..MIDPOINT };
        assert!(nan.validate().is_err());
    }
}
