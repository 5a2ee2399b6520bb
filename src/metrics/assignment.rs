//! The linear assignment problem (optimal matching of n rows to n columns
//! of a dense cost matrix), solved exactly by shortest augmenting paths.

use crate::{Error, Result, invalid_arg};

/// An optimal assignment.
#[derive(Clone, Debug, PartialEq)]
pub struct Assignment {
    /// Row `i` is matched to column `row_to_col[i]` (a permutation).
    pub row_to_col: Vec<usize>,
    /// `Σ_i cost[i][row_to_col[i]]`, summed in row order.
    pub total_cost: f64,
}

/// Minimizes `Σ_i cost[i, σ(i)]` over permutations `σ` of `0..n` for a dense
/// row-major `n × n` cost matrix of finite values.
///
/// The algorithm is the shortest-augmenting-path method of Jonker and
/// Volgenant in the form of Crouse (2016, the one SciPy's
/// `linear_sum_assignment` uses), after JV's column reduction: rows are
/// added one at a time, each by a Dijkstra search over reduced costs
/// `c_ij − u_i − v_j ≥ 0` that stops at the first free column, after which
/// the dual potentials `u`, `v` are updated so that reduced costs stay
/// non-negative. The result is an exact optimum (the duals certify it);
/// worst case O(n³), far less on typical geometric costs. Single-threaded
/// and deterministic: ties go to the lowest index.
///
/// Errors if `cost.len() != n²`, `n = 0`, or a cost is non-finite.
pub fn solve_assignment(cost: &[f64], n: usize) -> Result<Assignment> {
    solve_assignment_from(cost, n, None)
}

/// [`solve_assignment`] started from given column potentials `v` (any
/// finite values), improved by c-transforms `u_i = min_j (c_ij − v_j)`,
/// `v_j = min_i (c_ij − u_i)`, `u_i = min_j (c_ij − v_j)` (each the best
/// response to the other side, which makes every reduced cost non-negative);
/// each row starts matched to its tightest column where that column is still
/// free. The optimum does
/// not depend on `v`; the running time does, and a `v` close to an optimal
/// dual (e.g. from a known approximate transport map) leaves only short
/// augmenting paths. `None` uses JV's column reduction `v_j = min_i c_ij`.
///
/// Errors as [`solve_assignment`], and if `v` has the wrong length or a
/// non-finite value.
pub fn solve_assignment_from(cost: &[f64], n: usize, column_potentials: Option<&[f64]>) -> Result<Assignment> {
    if n == 0 {
        invalid_arg!("assignment of an empty matrix");
    }
    if cost.len() != n * n {
        invalid_arg!("assignment needs an {n} × {n} cost matrix ({} numbers), got {}", n * n, cost.len());
    }
    if let Some(k) = cost.iter().position(|c| !c.is_finite()) {
        return Err(Error::NonFinite(format!("cost {} at row {}, column {}", cost[k], k / n, k % n)));
    }
    const FREE: usize = usize::MAX;
    let mut col_to_row = vec![FREE; n];
    let mut row_to_col = vec![FREE; n];
    let mut path = vec![FREE; n];
    // Tentative distance of each column not yet reached; −∞ marks a reached
    // column, so that `r < dist[j]` is false there and the scan needs no
    // separate test. Reached columns keep their final distance in `settled`.
    let mut dist = vec![f64::INFINITY; n];
    let mut settled = vec![0.0f64; n];
    let mut seen_rows: Vec<usize> = Vec::with_capacity(n);
    let mut seen_cols: Vec<usize> = Vec::with_capacity(n);

    // Starting duals by c-transforms, each the best response to the other
    // side (so the dual objective Σu + Σv only grows): from the given v,
    // or from u = 0 (which is JV's column reduction v_j = min_i c_ij),
    // alternate u_i = min_j (c_ij − v_j) and v_j = min_i (c_ij − u_i).
    let mut u = vec![0.0f64; n];
    let mut v = vec![0.0f64; n];
    match column_potentials {
        Some(given) => {
            if given.len() != n {
                invalid_arg!("assignment needs {n} column potentials, got {}", given.len());
            }
            if let Some(j) = given.iter().position(|x| !x.is_finite()) {
                return Err(Error::NonFinite(format!("column potential {} at column {j}", given[j])));
            }
            v.copy_from_slice(given);
            row_transform(cost, n, &v, &mut u);
            column_transform(cost, n, &u, &mut v);
        }
        None => column_transform(cost, n, &u, &mut v),
    }
    // The last transform is computed from the very floating-point values the
    // search uses, so every reduced cost is ≥ 0 exactly and the minimizing
    // column's is exactly 0: matching a row to it while the column is free
    // keeps the duals complementary.
    let tightest = row_transform(cost, n, &v, &mut u);
    for (i, &j) in tightest.iter().enumerate() {
        if col_to_row[j] == FREE {
            col_to_row[j] = i;
            row_to_col[i] = j;
        }
    }

    for start_row in 0..n {
        if row_to_col[start_row] != FREE {
            continue;
        }
        dist.fill(f64::INFINITY);
        seen_rows.clear();
        seen_cols.clear();
        let mut min_val = 0.0;
        let mut i = start_row;
        let sink = loop {
            seen_rows.push(i);
            let row = &cost[i * n..(i + 1) * n];
            let base = min_val - u[i];
            let mut lowest = f64::INFINITY;
            let mut best = FREE;
            // One branch-free pass: relax every column through row i and
            // find the nearest unreached one (first index among ties).
            for j in 0..n {
                let old = dist[j];
                let r = (row[j] - v[j]) + base;
                let closer = r < old;
                let new = if closer { r } else { old };
                dist[j] = new;
                path[j] = if closer { i } else { path[j] };
                let key = if old == f64::NEG_INFINITY { f64::INFINITY } else { new };
                if key < lowest {
                    lowest = key;
                    best = j;
                }
            }
            // A free column is unreached until the search ends, so `best` exists.
            min_val = lowest;
            settled[best] = lowest;
            dist[best] = f64::NEG_INFINITY;
            seen_cols.push(best);
            if col_to_row[best] == FREE {
                break best;
            }
            i = col_to_row[best];
        };
        // Dual update: reduced costs stay ≥ 0 and are 0 along the new matching.
        u[start_row] += min_val;
        for &r in &seen_rows[1..] {
            u[r] += min_val - settled[row_to_col[r]];
        }
        for &c in &seen_cols {
            v[c] -= min_val - settled[c];
        }
        // Flip the matching along the path back to the start row.
        let mut j = sink;
        loop {
            let r = path[j];
            col_to_row[j] = r;
            let previous = std::mem::replace(&mut row_to_col[r], j);
            if r == start_row {
                break;
            }
            j = previous;
        }
    }
    let total_cost = (0..n).map(|i| cost[i * n + row_to_col[i]]).sum();
    Ok(Assignment { row_to_col, total_cost })
}

/// `u_i = min_j (c_ij − v_j)`; returns the minimizing column of each row
/// (the lowest index among ties).
fn row_transform(cost: &[f64], n: usize, v: &[f64], u: &mut [f64]) -> Vec<usize> {
    let mut tightest = vec![0; n];
    for i in 0..n {
        let (mut best, mut low) = (0, f64::INFINITY);
        for (j, (c, vj)) in cost[i * n..(i + 1) * n].iter().zip(v).enumerate() {
            let r = c - vj;
            if r < low {
                low = r;
                best = j;
            }
        }
        u[i] = low;
        tightest[i] = best;
    }
    tightest
}

/// `v_j = min_i (c_ij − u_i)`, row by row so that the cost is read in order.
fn column_transform(cost: &[f64], n: usize, u: &[f64], v: &mut [f64]) {
    v.fill(f64::INFINITY);
    for i in 0..n {
        for (vj, c) in v.iter_mut().zip(&cost[i * n..(i + 1) * n]) {
            *vj = vj.min(c - u[i]);
        }
    }
}
