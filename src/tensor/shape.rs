//! Shapes: dimensions of a row-major tensor, broadcasting rules and strided views.

use std::fmt;

use crate::{Result, shape_err};

/// The dimensions of a tensor, outermost first. Storage is always row-major
/// and contiguous; a rank-0 shape holds one element.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape(Vec<usize>);

impl Shape {
    pub fn new(dims: &[usize]) -> Self {
        Shape(dims.to_vec())
    }
    pub fn scalar() -> Self {
        Shape(Vec::new())
    }
    pub fn dims(&self) -> &[usize] {
        &self.0
    }
    pub fn rank(&self) -> usize {
        self.0.len()
    }
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.0.iter().product()
    }
    pub fn dim(&self, axis: usize) -> usize {
        self.0[axis]
    }
    /// Row-major strides in elements.
    pub fn strides(&self) -> Vec<usize> {
        let mut s = vec![1; self.0.len()];
        for i in (0..self.0.len().saturating_sub(1)).rev() {
            s[i] = s[i + 1] * self.0[i + 1];
        }
        s
    }
    /// Checks that `axis` is a valid axis of this shape.
    pub fn check_axis(&self, axis: usize) -> Result<()> {
        if axis >= self.rank() {
            shape_err!("axis {axis} out of range for shape {self}");
        }
        Ok(())
    }
    /// `(rows, cols)` of a rank-2 shape.
    pub fn as_matrix(&self) -> Result<(usize, usize)> {
        match self.0.as_slice() {
            [r, c] => Ok((*r, *c)),
            _ => shape_err!("expected a matrix (rank 2), got shape {self}"),
        }
    }
    /// Splits the shape around `axis` into `(outer, len, inner)` element counts.
    pub fn split_at_axis(&self, axis: usize) -> (usize, usize, usize) {
        let outer = self.0[..axis].iter().product();
        let inner = self.0[axis + 1..].iter().product();
        (outer, self.0[axis], inner)
    }
    /// The shape with `axis` set to 1 (a reduction keeping dims).
    pub fn with_dim(&self, axis: usize, len: usize) -> Shape {
        let mut d = self.0.clone();
        d[axis] = len;
        Shape(d)
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{d}")?;
        }
        write!(f, "]")
    }
}

impl From<&[usize]> for Shape {
    fn from(d: &[usize]) -> Self {
        Shape(d.to_vec())
    }
}
impl<const N: usize> From<[usize; N]> for Shape {
    fn from(d: [usize; N]) -> Self {
        Shape(d.to_vec())
    }
}
impl From<Vec<usize>> for Shape {
    fn from(d: Vec<usize>) -> Self {
        Shape(d)
    }
}
impl From<&Shape> for Shape {
    fn from(s: &Shape) -> Self {
        s.clone()
    }
}

/// The shape two operands broadcast to (NumPy rules: align trailing axes; a
/// size-1 axis stretches).
pub fn broadcast_shapes(a: &Shape, b: &Shape) -> Result<Shape> {
    let r = a.rank().max(b.rank());
    let mut out = vec![0; r];
    for (i, o) in out.iter_mut().enumerate() {
        let da = dim_from_right(a, r - 1 - i);
        let db = dim_from_right(b, r - 1 - i);
        *o = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => shape_err!("shapes {a} and {b} do not broadcast"),
        };
    }
    Ok(Shape(out))
}

fn dim_from_right(s: &Shape, k: usize) -> usize {
    if k < s.rank() { s.0[s.rank() - 1 - k] } else { 1 }
}

/// Strides (in elements) for reading a tensor of shape `from` as if it had
/// the broadcast shape `to`: stretched axes get stride 0.
pub fn broadcast_strides(from: &Shape, to: &Shape) -> Vec<usize> {
    let own = from.strides();
    let off = to.rank() - from.rank();
    (0..to.rank()).map(|i| if i < off || from.0[i - off] == 1 { 0 } else { own[i - off] }).collect()
}

/// A broadcast iteration plan for up to two inputs, with adjacent axes merged
/// where their strides allow, so the innermost loop is as long as possible.
///
/// `dims[i]` is the (merged) extent; `strides[j][i]` the stride of input `j`.
#[derive(Debug, Clone)]
pub struct BroadcastPlan {
    pub dims: Vec<usize>,
    pub strides: Vec<Vec<usize>>,
}

impl BroadcastPlan {
    /// Plans reading each of `inputs` at the output shape `out`.
    pub fn new(inputs: &[&Shape], out: &Shape) -> Self {
        let all: Vec<Vec<usize>> = inputs.iter().map(|s| broadcast_strides(s, out)).collect();
        let mut dims: Vec<usize> = Vec::new();
        let mut strides: Vec<Vec<usize>> = vec![Vec::new(); inputs.len()];
        for ax in 0..out.rank() {
            let d = out.0[ax];
            if d == 1 {
                continue;
            }
            let mergeable = !dims.is_empty()
                && all.iter().zip(&strides).all(|(s, acc)| {
                    let prev = *acc.last().unwrap();
                    // The previous (outer) axis continues this one contiguously.
                    prev == s[ax] * d
                });
            if mergeable {
                *dims.last_mut().unwrap() *= d;
                for (acc, s) in strides.iter_mut().zip(&all) {
                    *acc.last_mut().unwrap() = s[ax];
                }
            } else {
                dims.push(d);
                for (acc, s) in strides.iter_mut().zip(&all) {
                    acc.push(s[ax]);
                }
            }
        }
        if dims.is_empty() {
            dims.push(1);
            for acc in strides.iter_mut() {
                acc.push(0);
            }
        }
        BroadcastPlan { dims, strides }
    }

    /// Calls `f(offsets, inner_len)` for every innermost run; `offsets[j]` is
    /// input `j`'s element offset of the run's first element and the output
    /// offset is the run index times `inner_len`.
    pub fn for_each_run(&self, mut f: impl FnMut(usize, &[usize])) {
        let r = self.dims.len();
        let inner = self.dims[r - 1];
        let outer: usize = self.dims[..r - 1].iter().product();
        let n_in = self.strides.len();
        let mut idx = vec![0usize; r.saturating_sub(1)];
        let mut offs = vec![0usize; n_in];
        for run in 0..outer {
            for (j, o) in offs.iter_mut().enumerate() {
                *o = idx.iter().enumerate().map(|(a, &i)| i * self.strides[j][a]).sum();
            }
            f(run * inner, &offs);
            // Advance the multi-index over the outer axes.
            for a in (0..idx.len()).rev() {
                idx[a] += 1;
                if idx[a] < self.dims[a] {
                    break;
                }
                idx[a] = 0;
            }
        }
    }

    /// Innermost strides of each input (0 = broadcast, 1 = contiguous, or other).
    pub fn inner_strides(&self) -> Vec<usize> {
        self.strides.iter().map(|s| *s.last().unwrap()).collect()
    }
    pub fn inner_len(&self) -> usize {
        *self.dims.last().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_rules() {
        let s = |d: &[usize]| Shape::new(d);
        assert_eq!(broadcast_shapes(&s(&[3, 1]), &s(&[4])).unwrap(), s(&[3, 4]));
        assert_eq!(broadcast_shapes(&s(&[]), &s(&[2, 2])).unwrap(), s(&[2, 2]));
        assert!(broadcast_shapes(&s(&[3]), &s(&[4])).is_err());
        assert_eq!(broadcast_strides(&s(&[3, 1]), &s(&[2, 3, 4])), vec![0, 1, 0]);
    }

    #[test]
    fn plan_merges_contiguous_axes() {
        let out = Shape::new(&[2, 3, 4]);
        let p = BroadcastPlan::new(&[&out, &Shape::new(&[4])], &out);
        assert_eq!(p.dims, vec![6, 4]);
        assert_eq!(p.strides, vec![vec![4, 1], vec![0, 1]]);
        let p = BroadcastPlan::new(&[&out, &out], &out);
        assert_eq!(p.dims, vec![24]);
    }
}
