//! GEMM correctness: exact small-integer products for every small shape, transpose,
//! stride and α/β case; tolerance checks on large random problems (f32 and f64);
//! bit-identical results across thread counts. Every kernel the CPU can run is
//! tested, not only the dispatched one.

use wasserflow::backend::cpu::gemm::{
    GemmScalar, KernelKind, Transpose, gemm, gemm_strided, gemm_strided_with_kernel, gemm_with_kernel,
};

use Transpose::{No, Yes};

const OPS: [(Transpose, Transpose); 4] = [(No, No), (No, Yes), (Yes, No), (Yes, Yes)];

/// Small deterministic integers in [-4, 4], so that f32 products are exact.
fn small_int(seed: u64, i: usize) -> f32 {
    let mut x = seed.wrapping_add(i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 32;
    (x % 9) as f32 - 4.0
}

/// Uniform in [-1, 1).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}

/// `(rows, cols)` of the stored operand.
fn stored(t: Transpose, r: usize, c: usize) -> (usize, usize) {
    if t == No { (r, c) } else { (c, r) }
}

/// What the exact tests need of an element type (`f32`, `f64`).
trait Scalar: GemmScalar + Into<f64> + From<f32> + std::fmt::Debug {}
impl<T: GemmScalar + Into<f64> + From<f32> + std::fmt::Debug> Scalar for T {}

/// `op(X)[i, j]` of a row-major stored matrix with row stride `ld`.
fn at<T: Scalar>(x: &[T], t: Transpose, ld: usize, i: usize, j: usize) -> f64 {
    (if t == No { x[i * ld + j] } else { x[j * ld + i] }).into()
}

/// Naive `α·op(A)·op(B) + β·C` in f64 (exact for the small-integer tests).
#[allow(clippy::too_many_arguments)]
fn reference<T: Scalar>(
    ta: Transpose,
    tb: Transpose,
    m: usize,
    n: usize,
    k: usize,
    alpha: f64,
    a: &[T],
    lda: usize,
    b: &[T],
    ldb: usize,
    beta: f64,
    c: &[T],
    ldc: usize,
) -> Vec<f64> {
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0;
            for p in 0..k {
                s += at(a, ta, lda, i, p) * at(b, tb, ldb, p, j);
            }
            let ab = if alpha == 0.0 { 0.0 } else { alpha * s };
            out[i * n + j] = ab + if beta == 0.0 { 0.0 } else { beta * c[i * ldc + j].into() };
        }
    }
    out
}

/// Every m, n, k in 0..=17 (so every edge-tile shape of every kernel), all four
/// transpose combinations, C poisoned with NaN and β = 0: exact equality.
fn exact_small_shapes<T: Scalar>() {
    const MAX: usize = 17;
    let a: Vec<T> = (0..MAX * MAX).map(|i| small_int(1, i).into()).collect();
    let b: Vec<T> = (0..MAX * MAX).map(|i| small_int(2, i).into()).collect();
    let mut c: Vec<T> = vec![f32::NAN.into(); MAX * MAX];
    let (one, zero) = (T::from(1.0), T::from(0.0));
    for kind in KernelKind::all_available() {
        for (ta, tb) in OPS {
            for m in 0..=MAX {
                for n in 0..=MAX {
                    for k in 0..=MAX {
                        let lda = stored(ta, m, k).1;
                        let ldb = stored(tb, k, n).1;
                        c.fill(f32::NAN.into());
                        gemm_with_kernel(kind, ta, tb, m, n, k, one, &a, lda, &b, ldb, zero, &mut c, n);
                        let want = reference(ta, tb, m, n, k, 1.0, &a, lda, &b, ldb, 0.0, &c, n);
                        for (idx, &w) in want.iter().enumerate() {
                            let got: f64 = c[idx].into();
                            assert_eq!(
                                got,
                                w,
                                "{kind:?} {ta:?}{tb:?} m={m} n={n} k={k} at ({}, {})",
                                idx / n.max(1),
                                idx % n.max(1)
                            );
                        }
                        assert!(c[m * n..].iter().all(|&x| Into::<f64>::into(x).is_nan()), "wrote past C");
                    }
                }
            }
        }
    }
}

#[test]
fn exact_small_shapes_f32() {
    exact_small_shapes::<f32>();
}

#[test]
fn exact_small_shapes_f64() {
    exact_small_shapes::<f64>();
}

/// Shapes wide enough that every kernel packs A (n above its in-place limit) and
/// deep enough to span several k blocks, with edge tiles in every dimension.
/// The last one's packed B is past 1 MiB, so with several threads it is packed
/// once and shared (`gemm/shared_b.rs`), over several column blocks.
fn exact_packed_paths<T: Scalar>() {
    let shapes = [
        (1, 257, 1),
        (11, 300, 17),
        (12, 513, 16),
        (13, 257, 33),
        (25, 300, 400),
        (30, 1030, 5),
        (1600, 260, 3),
        (61, 1030, 400),
    ];
    for kind in KernelKind::all_available() {
        for (si, &(m, n, k)) in shapes.iter().enumerate() {
            for (ta, tb) in OPS {
                let (ar, ac) = stored(ta, m, k);
                let (br, bc) = stored(tb, k, n);
                let a: Vec<T> = (0..ar * ac).map(|i| small_int(20 + si as u64, i).into()).collect();
                let b: Vec<T> = (0..br * bc).map(|i| small_int(40 + si as u64, i).into()).collect();
                let mut c: Vec<T> = (0..m * n).map(|i| small_int(60, i).into()).collect();
                let beta = if si % 2 == 0 { 0.0 } else { 2.0 };
                let want = reference(ta, tb, m, n, k, -1.0, &a, ac, &b, bc, beta, &c, n);
                gemm_with_kernel(kind, ta, tb, m, n, k, T::from(-1.0), &a, ac, &b, bc, T::from(beta as f32), &mut c, n);
                let got: Vec<f64> = c.iter().map(|&x| x.into()).collect();
                assert!(got == want, "{kind:?} {ta:?}{tb:?} m={m} n={n} k={k}");
            }
        }
    }
}

#[test]
fn exact_packed_paths_f32() {
    exact_packed_paths::<f32>();
}

#[test]
fn exact_packed_paths_f64() {
    exact_packed_paths::<f64>();
}

/// B read in place (unit column stride, n a multiple of every kernel's panel
/// width, n within the in-place limit): a row stride wider than n whose
/// padding holds NaN, so reading past a row, or any stride mix-up, shows;
/// several k blocks and edge tiles in m.
fn exact_in_place_b<T: Scalar>() {
    let shapes = [(1, 32, 1), (13, 32, 7), (25, 64, 400), (7, 96, 33), (30, 128, 1000), (61, 256, 17)];
    for kind in KernelKind::all_available() {
        for (si, &(m, n, k)) in shapes.iter().enumerate() {
            for ta in [No, Yes] {
                let (ar, ac) = stored(ta, m, k);
                let ldb = n + 5;
                let a: Vec<T> = (0..ar * ac).map(|i| small_int(80 + si as u64, i).into()).collect();
                let b: Vec<T> = (0..k * ldb)
                    .map(|i| if i % ldb < n { small_int(90 + si as u64, i) } else { f32::NAN }.into())
                    .collect();
                let mut c: Vec<T> = vec![T::from(f32::NAN); m * n];
                let want = reference(ta, No, m, n, k, 1.0, &a, ac, &b, ldb, 0.0, &c, n);
                gemm_with_kernel(kind, ta, No, m, n, k, T::from(1.0), &a, ac, &b, ldb, T::from(0.0), &mut c, n);
                let got: Vec<f64> = c.iter().map(|&x| x.into()).collect();
                assert!(got == want, "{kind:?} {ta:?}N m={m} n={n} k={k}");
            }
        }
    }
}

#[test]
fn exact_in_place_b_f32() {
    exact_in_place_b::<f32>();
}

#[test]
fn exact_in_place_b_f64() {
    exact_in_place_b::<f64>();
}

/// α ≠ 1 and β ≠ 0 (including α = 0 and k = 0, which must give β·C), exact.
#[test]
fn exact_alpha_beta() {
    let sizes = [0, 1, 7, 13, 17, 33];
    for kind in KernelKind::all_available() {
        for (ta, tb) in OPS {
            for (alpha, beta) in [(2.0f32, -3.0f32), (-0.5, 1.0), (1.0, 0.25), (0.0, 2.0), (0.0, 0.0)] {
                for &m in &sizes {
                    for &n in &sizes {
                        for &k in &sizes {
                            let (ar, ac) = stored(ta, m, k);
                            let (br, bc) = stored(tb, k, n);
                            let mut a: Vec<f32> = (0..ar * ac).map(|i| small_int(3, i)).collect();
                            if alpha == 0.0 && !a.is_empty() {
                                // α = 0 must not read A (BLAS semantics).
                                a[0] = f32::NAN;
                            }
                            let b: Vec<f32> = (0..br * bc).map(|i| small_int(4, i)).collect();
                            let mut c: Vec<f32> = (0..m * n).map(|i| small_int(5, i)).collect();
                            if beta == 0.0 && !c.is_empty() {
                                c[0] = f32::NAN;
                            }
                            let want = reference(ta, tb, m, n, k, alpha as f64, &a, ac, &b, bc, beta as f64, &c, n);
                            gemm_with_kernel(kind, ta, tb, m, n, k, alpha, &a, ac, &b, bc, beta, &mut c, n);
                            let got: Vec<f64> = c.iter().map(|&x| x as f64).collect();
                            assert_eq!(got, want, "{kind:?} {ta:?}{tb:?} m={m} n={n} k={k} α={alpha} β={beta}");
                        }
                    }
                }
            }
        }
    }
}

/// Leading dimensions larger than the rows: sentinels in the padding of A and B
/// must not be read (they would change the result), those of C must survive.
#[test]
fn padded_leading_dimensions() {
    const SENTINEL: f32 = 1.0e6;
    let sizes = [1, 5, 12, 13, 16, 17, 33, 50];
    for kind in KernelKind::all_available() {
        for (ta, tb) in OPS {
            for &m in &sizes {
                for &n in &sizes {
                    for &k in &sizes {
                        let (ar, ac) = stored(ta, m, k);
                        let (br, bc) = stored(tb, k, n);
                        let (lda, ldb, ldc) = (ac + 3, bc + 5, n + 7);
                        let pad = |rows: usize, cols: usize, ld: usize, seed: u64| -> Vec<f32> {
                            // Two extra rows of sentinels past the end, too.
                            (0..(rows + 2) * ld)
                                .map(|i| if i % ld < cols && i / ld < rows { small_int(seed, i) } else { SENTINEL })
                                .collect()
                        };
                        let a = pad(ar, ac, lda, 6);
                        let b = pad(br, bc, ldb, 7);
                        let mut c = pad(m, n, ldc, 8);
                        let c0 = c.clone();
                        let want = reference(ta, tb, m, n, k, 1.0, &a, lda, &b, ldb, -2.0, &c, ldc);
                        gemm_with_kernel(kind, ta, tb, m, n, k, 1.0, &a, lda, &b, ldb, -2.0, &mut c, ldc);
                        for (idx, (&got, &orig)) in c.iter().zip(&c0).enumerate() {
                            let (i, j) = (idx / ldc, idx % ldc);
                            if i < m && j < n {
                                assert_eq!(got as f64, want[i * n + j], "{kind:?} {ta:?}{tb:?} {m}x{n}x{k} ({i},{j})");
                            } else {
                                assert_eq!(got.to_bits(), orig.to_bits(), "{kind:?} padding of C changed at ({i},{j})");
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Arbitrary strides through `gemm_strided`: column-major and reversed
/// operands, column-major C (the transposed path) and a C with no unit stride
/// (the scratch-tile path).
#[test]
fn strided_layouts() {
    let sizes = [1, 4, 13, 17, 40];
    for kind in KernelKind::all_available() {
        for &m in &sizes {
            for &n in &sizes {
                for &k in &sizes {
                    let a: Vec<f32> = (0..m * k).map(|i| small_int(9, i)).collect();
                    let b: Vec<f32> = (0..k * n).map(|i| small_int(10, i)).collect();
                    let c_init: Vec<f32> = (0..m * n).map(|i| small_int(11, i)).collect();
                    // Logical values: A[i,p] = a[i*k+p], B[p,j] = b[p*n+j], C[i,j] = c_init[i*n+j].
                    let want = reference(No, No, m, n, k, 3.0, &a, k, &b, n, -1.0, &c_init, n);
                    // A column-major; B with rows reversed (negative row stride).
                    let mut a_cm = vec![0.0f32; m * k];
                    for i in 0..m {
                        for p in 0..k {
                            a_cm[p * m + i] = a[i * k + p];
                        }
                    }
                    let mut b_rev = vec![0.0f32; k * n];
                    for p in 0..k {
                        for j in 0..n {
                            b_rev[(k - 1 - p) * n + j] = b[p * n + j];
                        }
                    }
                    // C layouts: (rows stride, column stride, storage length, offset of (0,0)).
                    let layouts: [(isize, isize, usize, usize); 4] = [
                        (n as isize, 1, m * n, 0),
                        (1, m as isize, m * n, 0),
                        (2 * n as isize + 1, 2, (2 * n + 1) * m, 0),
                        (-(n as isize), -1, m * n, m * n - 1),
                    ];
                    for (rsc, csc, len, off) in layouts {
                        let mut c = vec![f32::NAN; len];
                        for i in 0..m {
                            for j in 0..n {
                                c[(off as isize + i as isize * rsc + j as isize * csc) as usize] = c_init[i * n + j];
                            }
                        }
                        // SAFETY: all strides address inside the vectors built above.
                        unsafe {
                            gemm_strided_with_kernel(
                                kind,
                                m,
                                n,
                                k,
                                3.0,
                                a_cm.as_ptr(),
                                1,
                                m as isize,
                                b_rev.as_ptr().add((k - 1) * n),
                                -(n as isize),
                                1,
                                -1.0,
                                c.as_mut_ptr().add(off),
                                rsc,
                                csc,
                            );
                        }
                        for i in 0..m {
                            for j in 0..n {
                                let got = c[(off as isize + i as isize * rsc + j as isize * csc) as usize];
                                assert_eq!(
                                    got as f64,
                                    want[i * n + j],
                                    "{kind:?} {m}x{n}x{k} C strides ({rsc},{csc}) at ({i},{j})"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    // The default-dispatch entry point, once.
    let a = [1.0f32, 2.0, 3.0, 4.0];
    let mut c = [f32::NAN; 4];
    // SAFETY: 2×2 matrices inside 4-element arrays.
    unsafe { gemm_strided(2, 2, 2, 1.0, a.as_ptr(), 1, 2, a.as_ptr(), 2, 1, 0.0, c.as_mut_ptr(), 2, 1) };
    // Aᵀ·A with A = [[1,2],[3,4]] read transposed: [[1,3],[2,4]]·[[1,2],[3,4]].
    assert_eq!(c, [10.0, 14.0, 14.0, 20.0]);
}

/// Large problems (sizes not multiples of any block size), random data, checked
/// against an f64 reference with a bound scaled by k·ε·Σ|a||b|.
fn check_large<T: GemmScalar>(
    name: &str,
    eps: f64,
    to: fn(f64) -> T,
    from: fn(T) -> f64,
    shapes: &[(usize, usize, usize)],
) {
    let mut rng = Rng(0x1234_5678);
    for kind in KernelKind::all_available() {
        for (si, &(m, n, k)) in shapes.iter().enumerate() {
            let (ta, tb) = OPS[si % 4];
            let (ar, ac) = stored(ta, m, k);
            let (br, bc) = stored(tb, k, n);
            let a: Vec<T> = (0..ar * ac).map(|_| to(rng.next())).collect();
            let b: Vec<T> = (0..br * bc).map(|_| to(rng.next())).collect();
            let c0: Vec<T> = (0..m * n).map(|_| to(rng.next())).collect();
            let (alpha, beta) = (0.75, if si % 2 == 0 { 0.0 } else { -1.5 });
            let mut c = c0.clone();
            gemm_with_kernel(kind, ta, tb, m, n, k, to(alpha), &a, ac, &b, bc, to(beta), &mut c, n);
            let get = |x: &[T], t: Transpose, ld: usize, i: usize, j: usize| {
                from(if t == No { x[i * ld + j] } else { x[j * ld + i] })
            };
            for i in 0..m {
                for j in 0..n {
                    let (mut s, mut mag) = (0.0, 0.0);
                    for p in 0..k {
                        let prod = get(&a, ta, ac, i, p) * get(&b, tb, bc, p, j);
                        s += prod;
                        mag += prod.abs();
                    }
                    let want = alpha * s + beta * from(c0[i * n + j]);
                    let tol =
                        2.0 * (k as f64 + 2.0) * eps * (alpha.abs() * mag + beta.abs() * from(c0[i * n + j]).abs());
                    let got = from(c[i * n + j]);
                    assert!(
                        (got - want).abs() <= tol,
                        "{name} {kind:?} {ta:?}{tb:?} {m}x{n}x{k} ({i},{j}): got {got}, want {want} ± {tol}"
                    );
                }
            }
        }
    }
}

#[test]
fn large_random_f32() {
    // The last two are long reductions into a small C, cut into chunks of k
    // (`gemm/split_k.rs`).
    let shapes = [
        (131, 257, 300),
        (300, 129, 555),
        (97, 601, 129),
        (250, 70, 1030),
        (1030, 3, 65),
        (64, 64, 3000),
        (20, 100, 1500),
    ];
    check_large::<f32>("f32", f32::EPSILON as f64, |x| x as f32, |x| x as f64, &shapes);
}

#[test]
fn large_random_f64() {
    let shapes = [(131, 257, 300), (97, 301, 129), (300, 129, 255), (130, 70, 1030), (64, 64, 2000)];
    check_large::<f64>("f64", f64::EPSILON, |x| x, |x| x, &shapes);
}

/// The same call in pools of 1, 2 and 3 threads gives the same bits.
#[test]
fn bit_identical_across_thread_counts() {
    let shapes = [
        (No, No, 300, 300, 300),
        (No, No, 1024, 64, 64),
        (No, No, 1024, 2, 64),
        (No, No, 1024, 64, 3),
        (No, Yes, 1000, 128, 128),
        (Yes, No, 64, 64, 1024),
        (Yes, No, 64, 2, 1024),
        (Yes, No, 300, 3, 2000),
        (Yes, Yes, 37, 700, 513),
        // Transposed A, split along n into parts narrow enough to be read in
        // place: the k blocking must still be the whole problem's.
        (Yes, No, 40, 200, 700),
        (No, No, 700, 37, 900),
        (Yes, No, 400, 333, 260),
        (No, Yes, 200, 1100, 450),
        // Long reductions into a small C, cut into chunks of k (the last one
        // short): the chunks and the order of their sums are the same for
        // every pool.
        (Yes, No, 64, 64, 3000),
        (No, Yes, 50, 70, 1300),
    ];
    let pools: Vec<rayon::ThreadPool> =
        [1, 2, 3].iter().map(|&t| rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap()).collect();
    let mut rng = Rng(42);
    for kind in KernelKind::all_available() {
        for &(ta, tb, m, n, k) in &shapes {
            let a: Vec<f32> = (0..m * k).map(|_| rng.next() as f32).collect();
            let b: Vec<f32> = (0..k * n).map(|_| rng.next() as f32).collect();
            let c0: Vec<f32> = (0..m * n).map(|_| rng.next() as f32).collect();
            let lda = stored(ta, m, k).1;
            let ldb = stored(tb, k, n).1;
            for beta in [0.0f32, 0.5] {
                let results: Vec<Vec<u32>> = pools
                    .iter()
                    .map(|pool| {
                        let mut c = c0.clone();
                        pool.install(|| {
                            assert_eq!(rayon::current_num_threads(), pool.current_num_threads());
                            gemm_with_kernel(kind, ta, tb, m, n, k, 1.25, &a, lda, &b, ldb, beta, &mut c, n)
                        });
                        c.iter().map(|x| x.to_bits()).collect()
                    })
                    .collect();
                for (t, r) in results.iter().enumerate().skip(1) {
                    assert!(r == &results[0], "{kind:?} {ta:?}{tb:?} {m}x{n}x{k} β={beta}: {} threads differ", t + 1);
                }
            }
        }
    }
}

/// Products on the shared-B path issued from several threads at once (each
/// then runs inline or on the team, whichever is free) give the bits of the
/// same products issued one at a time.
#[test]
fn concurrent_shared_b_products() {
    use rayon::prelude::*;
    let (m, n, k) = (150, 1100, 400);
    let mut rng = Rng(7);
    let inputs: Vec<(Vec<f32>, Vec<f32>)> = (0..4)
        .map(|_| ((0..m * k).map(|_| rng.next() as f32).collect(), (0..k * n).map(|_| rng.next() as f32).collect()))
        .collect();
    let product = |(a, b): &(Vec<f32>, Vec<f32>)| {
        let mut c = vec![f32::NAN; m * n];
        gemm(No, No, m, n, k, 1.0, a, k, b, n, 0.0, &mut c, n);
        c.iter().map(|x| x.to_bits()).collect::<Vec<u32>>()
    };
    let one_at_a_time: Vec<Vec<u32>> = inputs.iter().map(product).collect();
    let at_once: Vec<Vec<u32>> = inputs.par_iter().map(product).collect();
    assert!(one_at_a_time == at_once);
}

/// The safe entry point with the dispatched kernel, f64.
#[test]
fn dispatched_f64_smoke() {
    let a = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2×3
    let b = [1.0f64, 0.0, -1.0, 2.0, 0.5, 1.0]; // 3×2
    let mut c = [f64::NAN; 4];
    gemm(No, No, 2, 2, 3, 1.0, &a, 3, &b, 2, 0.0, &mut c, 2);
    assert_eq!(c, [1.0 - 2.0 + 1.5, 4.0 + 3.0, 4.0 - 5.0 + 3.0, 10.0 + 6.0]);
}

/// A product of a few columns and many rows is computed through its transpose
/// (whose tiles it fills): each element must still be the plain chain of
/// multiply-adds over k, in order, that a row of tiles computes. A of
/// column stride ≠ 1 keeps the dot-product path (`narrow`) out.
#[test]
fn few_column_products_are_each_elements_fma_chain() {
    let mut rng = Rng(7);
    for kind in KernelKind::all_available() {
        // The portable kernel multiplies and adds in two roundings.
        let step = |acc: f32, x: f32, y: f32| {
            if kind == KernelKind::Generic { acc + x * y } else { x.mul_add(y, acc) }
        };
        for n in 1..=5 {
            // k ≤ 64 is one k block for every kernel (transposed A included,
            // `kc_strided_a`): no partial sums to add.
            let (m, k) = (61, 60);
            let a: Vec<f32> = (0..m * k).map(|_| rng.next() as f32).collect(); // stored k × m
            let b: Vec<f32> = (0..k * n).map(|_| rng.next() as f32).collect();
            let mut c = vec![f32::NAN; m * n];
            gemm_with_kernel(kind, Yes, No, m, n, k, 1.0, &a, m, &b, n, 0.0, &mut c, n);
            for i in 0..m {
                for j in 0..n {
                    let want = (0..k).fold(0.0f32, |acc, q| step(acc, a[q * m + i], b[q * n + j]));
                    assert_eq!(c[i * n + j].to_bits(), want.to_bits(), "{kind:?} n={n} ({i}, {j})");
                }
            }
        }
    }
}
