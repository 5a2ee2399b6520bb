//! The 2-D toy densities as the literature defines them (ffjord's `toy_data`,
//! with scikit-learn's generators where it calls them).

use std::f64::consts::PI;

use super::mixture::GaussianMixture;
use crate::tensor::random::Rng;
use crate::tensor::{Float, Tensor};
use crate::{Result, invalid_arg};

/// A 2-D toy distribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Toy {
    Swissroll,
    Circles,
    Rings,
    Moons,
    EightGaussians,
    Pinwheel,
    TwoSpirals,
    Checkerboard,
}

impl Toy {
    pub const ALL: [Toy; 8] = [
        Toy::Swissroll,
        Toy::Circles,
        Toy::Rings,
        Toy::Moons,
        Toy::EightGaussians,
        Toy::Pinwheel,
        Toy::TwoSpirals,
        Toy::Checkerboard,
    ];

    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "swissroll" => Toy::Swissroll,
            "circles" => Toy::Circles,
            "rings" => Toy::Rings,
            "moons" => Toy::Moons,
            "8gaussians" => Toy::EightGaussians,
            "pinwheel" => Toy::Pinwheel,
            "2spirals" => Toy::TwoSpirals,
            "checkerboard" => Toy::Checkerboard,
            _ => invalid_arg!(
                "unknown toy dataset '{name}' (expected swissroll, circles, rings, moons, 8gaussians, pinwheel, 2spirals, checkerboard)"
            ),
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Toy::Swissroll => "swissroll",
            Toy::Circles => "circles",
            Toy::Rings => "rings",
            Toy::Moons => "moons",
            Toy::EightGaussians => "8gaussians",
            Toy::Pinwheel => "pinwheel",
            Toy::TwoSpirals => "2spirals",
            Toy::Checkerboard => "checkerboard",
        }
    }

    /// The closed-form density, where there is one.
    pub fn mixture(&self) -> Option<GaussianMixture> {
        match self {
            Toy::EightGaussians => Some(GaussianMixture::eight_gaussians()),
            _ => None,
        }
    }

    /// `n` samples as `[n, 2]`.
    pub fn sample<T: Float>(&self, n: usize, rng: &mut Rng) -> Result<Tensor<T>> {
        let pts: Vec<[f64; 2]> = match self {
            Toy::Swissroll => (0..n)
                .map(|_| {
                    // make_swiss_roll(noise = 1.0), columns 0 and 2 (the height
                    // column is dropped, so it is not drawn), / 5.
                    let t = 1.5 * PI * (1.0 + 2.0 * rng.uniform());
                    [(t * t.cos() + rng.normal()) / 5.0, (t * t.sin() + rng.normal()) / 5.0]
                })
                .collect(),
            Toy::Circles => {
                // make_circles(factor = .5, noise = .08), × 3.
                let n_out = n / 2;
                let n_in = n - n_out;
                let mut v: Vec<[f64; 2]> = Vec::with_capacity(n);
                for i in 0..n_out {
                    let a = 2.0 * PI * i as f64 / n_out as f64;
                    v.push([a.cos(), a.sin()]);
                }
                for i in 0..n_in {
                    let a = 2.0 * PI * i as f64 / n_in as f64;
                    v.push([0.5 * a.cos(), 0.5 * a.sin()]);
                }
                shuffle(&mut v, rng);
                v.iter().map(|p| [3.0 * (p[0] + 0.08 * rng.normal()), 3.0 * (p[1] + 0.08 * rng.normal())]).collect()
            }
            Toy::Rings => {
                let q = n / 4;
                let counts = [n - 3 * q, q, q, q];
                let radii = [0.25, 0.5, 0.75, 1.0];
                let mut v = Vec::with_capacity(n);
                for (&c, &r) in counts.iter().zip(&radii) {
                    for i in 0..c {
                        let a = 2.0 * PI * i as f64 / c as f64;
                        v.push([3.0 * r * a.cos(), 3.0 * r * a.sin()]);
                    }
                }
                shuffle(&mut v, rng);
                v.iter().map(|p| [p[0] + 0.08 * rng.normal(), p[1] + 0.08 * rng.normal()]).collect()
            }
            Toy::Moons => {
                // make_moons(noise = 0.1), × 2 + (−1, −0.2).
                let n_out = n / 2;
                let n_in = n - n_out;
                let lin = |i: usize, m: usize| if m > 1 { PI * i as f64 / (m - 1) as f64 } else { 0.0 };
                let mut v: Vec<[f64; 2]> = Vec::with_capacity(n);
                for i in 0..n_out {
                    let a = lin(i, n_out);
                    v.push([a.cos(), a.sin()]);
                }
                for i in 0..n_in {
                    let a = lin(i, n_in);
                    v.push([1.0 - a.cos(), 1.0 - a.sin() - 0.5]);
                }
                shuffle(&mut v, rng);
                v.iter()
                    .map(|p| [2.0 * (p[0] + 0.1 * rng.normal()) - 1.0, 2.0 * (p[1] + 0.1 * rng.normal()) - 0.2])
                    .collect()
            }
            Toy::EightGaussians => return GaussianMixture::eight_gaussians().sample(n, rng),
            Toy::Pinwheel => {
                let (radial, tangential, classes, rate) = (0.3, 0.1, 5, 0.25);
                let per = n / classes;
                let mut v = Vec::with_capacity(per * classes);
                for label in 0..classes {
                    for _ in 0..per {
                        let f0 = rng.normal() * radial + 1.0;
                        let f1 = rng.normal() * tangential;
                        let ang = 2.0 * PI * label as f64 / classes as f64 + rate * f0.exp();
                        let (s, c) = ang.sin_cos();
                        v.push([2.0 * (f0 * c + f1 * s), 2.0 * (-f0 * s + f1 * c)]);
                    }
                }
                // Pad with whole draws so exactly n points come back.
                while v.len() < n {
                    let f0 = rng.normal() * radial + 1.0;
                    let f1 = rng.normal() * tangential;
                    let ang = 2.0 * PI * rng.below(classes) as f64 / classes as f64 + rate * f0.exp();
                    let (s, c) = ang.sin_cos();
                    v.push([2.0 * (f0 * c + f1 * s), 2.0 * (-f0 * s + f1 * c)]);
                }
                shuffle(&mut v, rng);
                v
            }
            Toy::TwoSpirals => {
                let half = n / 2;
                let mut v = Vec::with_capacity(n);
                let mut arm = Vec::with_capacity(n - half);
                for _ in 0..(n - half) {
                    let r = rng.uniform().sqrt() * 540.0 * (2.0 * PI) / 360.0;
                    let dx = -r.cos() * r + 0.5 * rng.uniform();
                    let dy = r.sin() * r + 0.5 * rng.uniform();
                    arm.push([dx, dy]);
                }
                v.extend(arm.iter().take(half).map(|p| [p[0] / 3.0, p[1] / 3.0]));
                v.extend(arm.iter().map(|p| [-p[0] / 3.0, -p[1] / 3.0]));
                v.truncate(n);
                v.iter().map(|p| [p[0] + 0.1 * rng.normal(), p[1] + 0.1 * rng.normal()]).collect()
            }
            Toy::Checkerboard => (0..n)
                .map(|_| {
                    let x1 = 4.0 * rng.uniform() - 2.0;
                    let x2 = rng.uniform() - 2.0 * rng.below(2) as f64 + (x1.floor().rem_euclid(2.0));
                    [2.0 * x1, 2.0 * x2]
                })
                .collect(),
        };
        Tensor::from_vec(pts.iter().flat_map(|p| [T::from_f64(p[0]), T::from_f64(p[1])]).collect(), [n, 2])
    }
}

fn shuffle(v: &mut [[f64; 2]], rng: &mut Rng) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i + 1);
        v.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_toy_gives_n_finite_points() {
        for toy in Toy::ALL {
            for n in [1, 7, 1000] {
                let x = toy.sample::<f64>(n, &mut Rng::seed(1)).unwrap();
                assert_eq!(x.dims(), &[n, 2], "{toy:?}");
                assert!(x.all_finite().unwrap());
            }
            assert_eq!(Toy::from_name(toy.name()).unwrap(), toy);
        }
    }

    #[test]
    fn rings_have_their_radii() {
        let x = Toy::Rings.sample::<f64>(4000, &mut Rng::seed(2)).unwrap().to_vec().unwrap();
        let mut near = [0usize; 4];
        for p in x.chunks(2) {
            let r = (p[0] * p[0] + p[1] * p[1]).sqrt();
            for (k, want) in [0.75, 1.5, 2.25, 3.0].iter().enumerate() {
                if (r - want).abs() < 0.3 {
                    near[k] += 1;
                }
            }
        }
        assert!(near.iter().all(|&c| c > 900), "{near:?}");
    }

    #[test]
    fn checkerboard_occupies_alternate_cells() {
        let x = Toy::Checkerboard.sample::<f64>(5000, &mut Rng::seed(3)).unwrap().to_vec().unwrap();
        for p in x.chunks(2) {
            let (i, j) = ((p[0] / 2.0).floor() as i64, (p[1] / 2.0).floor() as i64);
            assert_eq!((i + j).rem_euclid(2), 0, "point {p:?} in an empty cell");
        }
    }
}
