//! The parameter blocks the CUDA kernels take by value, laid out as their
//! C structs in `cuda/common.cuh` and `cuda/elementwise.cu`, and the integer
//! codes that select an op inside a kernel. Plain data, built on every
//! build so that the layout logic is tested without a GPU.

use crate::backend::{Activation, BinaryOp, ReduceOp, StridedView, UnaryOp};
use crate::tensor::Shape;
use crate::tensor::shape::BroadcastPlan;
use crate::{Error, Result};

/// Axes a strided view or a broadcast may have on the device (`MAX_RANK`).
pub const MAX_RANK: usize = 8;
/// Terms of one linear combination (`MAX_TERMS`).
pub const MAX_TERMS: usize = 8;

/// `(code, parameter)` of an activation: β of softplus, α of elu.
pub fn activation_code(act: Activation) -> (i32, f64) {
    match act {
        Activation::Tanh => (0, 0.0),
        Activation::Sigmoid => (1, 0.0),
        Activation::Softplus { beta } => (2, beta),
        Activation::Silu => (3, 0.0),
        Activation::Relu => (4, 0.0),
        Activation::Elu { alpha } => (5, alpha),
        Activation::Selu => (6, 0.0),
        Activation::Identity => (7, 0.0),
    }
}

/// `struct UnaryArgs`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UnaryArgs {
    pub op: i32,
    pub act: i32,
    pub n: i32,
    pub c: f64,
    pub act_param: f64,
}

impl UnaryArgs {
    pub fn new(op: UnaryOp) -> Self {
        let plain = |code| UnaryArgs { op: code, act: 7, n: 0, c: 0.0, act_param: 0.0 };
        match op {
            UnaryOp::Neg => plain(0),
            UnaryOp::Exp => plain(1),
            UnaryOp::Ln => plain(2),
            UnaryOp::Sqrt => plain(3),
            UnaryOp::Square => plain(4),
            UnaryOp::Recip => plain(5),
            UnaryOp::Abs => plain(6),
            UnaryOp::Powi(n) => UnaryArgs { n, ..plain(7) },
            UnaryOp::AddScalar(c) => UnaryArgs { c, ..plain(8) },
            UnaryOp::MulScalar(c) => UnaryArgs { c, ..plain(9) },
            UnaryOp::Act(a) | UnaryOp::ActDeriv(a) => {
                let (act, act_param) = activation_code(a);
                UnaryArgs { act, act_param, ..plain(if matches!(op, UnaryOp::Act(_)) { 10 } else { 11 }) }
            }
        }
    }
}

pub fn binary_code(op: BinaryOp) -> i32 {
    match op {
        BinaryOp::Add => 0,
        BinaryOp::Sub => 1,
        BinaryOp::Mul => 2,
        BinaryOp::Div => 3,
        BinaryOp::Max => 4,
        BinaryOp::Min => 5,
    }
}

pub fn reduce_code(op: ReduceOp) -> i32 {
    match op {
        ReduceOp::Sum => 0,
        ReduceOp::Max => 1,
        ReduceOp::Min => 2,
    }
}

fn too_many_axes(what: &str, rank: usize) -> Error {
    Error::Device(format!("{what} with {rank} axes after merging: the CUDA kernels take at most {MAX_RANK}"))
}

/// `struct View`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    pub rank: i32,
    pub offset: usize,
    pub dims: [usize; MAX_RANK],
    pub strides: [usize; MAX_RANK],
}

impl View {
    pub fn new(v: &StridedView) -> Result<Self> {
        // Length-1 axes never move the offset: dropping them keeps more views in range.
        let axes: Vec<(usize, usize)> =
            v.dims.iter().zip(&v.strides).filter(|(d, _)| **d != 1).map(|(&d, &s)| (d, s)).collect();
        if axes.len() > MAX_RANK {
            return Err(too_many_axes("strided view", axes.len()));
        }
        let mut view = View { rank: axes.len() as i32, offset: v.offset, dims: [1; MAX_RANK], strides: [0; MAX_RANK] };
        for (i, (d, s)) in axes.into_iter().enumerate() {
            view.dims[i] = d;
            view.strides[i] = s;
        }
        Ok(view)
    }
}

/// `struct Broadcast`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Broadcast {
    pub rank: i32,
    pub contiguous: i32,
    pub dims: [usize; MAX_RANK],
    pub sa: [usize; MAX_RANK],
    pub sb: [usize; MAX_RANK],
}

impl Broadcast {
    pub fn new(lhs: &Shape, rhs: &Shape, out: &Shape) -> Result<Self> {
        let plan = BroadcastPlan::new(&[lhs, rhs], out);
        let r = plan.dims.len();
        if r > MAX_RANK {
            return Err(too_many_axes("broadcast", r));
        }
        let mut b =
            Broadcast { rank: r as i32, contiguous: 0, dims: [1; MAX_RANK], sa: [0; MAX_RANK], sb: [0; MAX_RANK] };
        b.dims[..r].copy_from_slice(&plan.dims);
        b.sa[..r].copy_from_slice(&plan.strides[0]);
        b.sb[..r].copy_from_slice(&plan.strides[1]);
        b.contiguous = i32::from(r == 1 && b.sa[0] == 1 && b.sb[0] == 1);
        Ok(b)
    }
}

/// `struct Terms`: coefficients and device pointers of a linear combination.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Terms {
    pub count: i32,
    pub coef: [f64; MAX_TERMS],
    pub ptr: [u64; MAX_TERMS],
}

/// Rows of `n_rows` as lists of the positions `i` with `idx[i] == row`, in
/// order: the compressed form that lets the scatter-add kernel sum each
/// output row without atomics. Returns `(starts, sources)`.
pub fn inverse_index(idx: &[usize], n_rows: usize) -> (Vec<i64>, Vec<i64>) {
    let mut starts = vec![0i64; n_rows + 1];
    for &r in idx {
        starts[r + 1] += 1;
    }
    for r in 0..n_rows {
        starts[r + 1] += starts[r];
    }
    let mut fill: Vec<i64> = starts[..n_rows].to_vec();
    let mut sources = vec![0i64; idx.len()];
    for (i, &r) in idx.iter().enumerate() {
        sources[fill[r] as usize] = i as i64;
        fill[r] += 1;
    }
    (starts, sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_the_c_structs() {
        // int, int, int, (pad), double, double
        assert_eq!(std::mem::size_of::<UnaryArgs>(), 32);
        assert_eq!(std::mem::offset_of!(UnaryArgs, c), 16);
        // int, (pad), size_t, size_t[8], size_t[8]
        assert_eq!(std::mem::size_of::<View>(), 8 + 8 + 64 + 64);
        assert_eq!(std::mem::offset_of!(View, offset), 8);
        // int, int, size_t[8] ×3
        assert_eq!(std::mem::size_of::<Broadcast>(), 8 + 3 * 64);
        // int, (pad), double[8], pointer[8]
        assert_eq!(std::mem::offset_of!(Terms, coef), 8);
        assert_eq!(std::mem::size_of::<Terms>(), 8 + 64 + 64);
    }

    #[test]
    fn broadcast_merges_axes_and_flags_the_plain_case() {
        let s = |d: &[usize]| Shape::new(d);
        let same = Broadcast::new(&s(&[4, 5]), &s(&[4, 5]), &s(&[4, 5])).unwrap();
        assert_eq!((same.rank, same.contiguous, same.dims[0]), (1, 1, 20));
        let row = Broadcast::new(&s(&[4, 5]), &s(&[5]), &s(&[4, 5])).unwrap();
        assert_eq!((row.rank, row.contiguous), (2, 0));
        assert_eq!((&row.dims[..2], &row.sa[..2], &row.sb[..2]), (&[4, 5][..], &[5, 1][..], &[0, 1][..]));
    }

    #[test]
    fn views_drop_unit_axes_and_refuse_too_many() {
        let v = StridedView { offset: 3, dims: vec![2, 1, 4], strides: vec![10, 99, 1] };
        let c = View::new(&v).unwrap();
        assert_eq!((c.rank, c.offset, &c.dims[..2], &c.strides[..2]), (2, 3, &[2, 4][..], &[10, 1][..]));
        let deep = StridedView { offset: 0, dims: vec![2; 9], strides: vec![1; 9] };
        assert!(View::new(&deep).is_err());
    }

    #[test]
    fn inverse_index_lists_sources_in_order() {
        let (starts, sources) = inverse_index(&[2, 0, 2, 2], 4);
        assert_eq!(starts, vec![0, 1, 1, 4, 4]);
        assert_eq!(sources, vec![1, 0, 2, 3]);
    }

    #[test]
    fn op_codes_follow_common_cuh() {
        assert_eq!(UnaryArgs::new(UnaryOp::Powi(3)).n, 3);
        let sp = UnaryArgs::new(UnaryOp::Act(Activation::Softplus { beta: 20.0 }));
        assert_eq!((sp.op, sp.act, sp.act_param), (10, 2, 20.0));
        assert_eq!(UnaryArgs::new(UnaryOp::ActDeriv(Activation::Tanh)).op, 11);
    }
}
