//! Run-time ISA dispatch for elementwise loops.
//!
//! PLACEHOLDER: plain loops; to be replaced by multiversioned (AVX-512 / AVX2 /
//! portable) and rayon-split versions with the same signatures.

/// `y[i] = f(x[i])`
pub fn map1<T: Copy + Send + Sync, F: Fn(T) -> T + Sync + Send>(x: &[T], y: &mut [T], f: F) {
    assert_eq!(x.len(), y.len());
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi = f(xi);
    }
}

/// `y[i] = f(a[i], b[i])`
pub fn map2<T: Copy + Send + Sync, F: Fn(T, T) -> T + Sync + Send>(a: &[T], b: &[T], y: &mut [T], f: F) {
    assert_eq!(a.len(), y.len());
    assert_eq!(b.len(), y.len());
    for ((yi, &ai), &bi) in y.iter_mut().zip(a).zip(b) {
        *yi = f(ai, bi);
    }
}

/// `y[i] = f(a[i], b[i], c[i])`
pub fn map3<T: Copy + Send + Sync, F: Fn(T, T, T) -> T + Sync + Send>(a: &[T], b: &[T], c: &[T], y: &mut [T], f: F) {
    assert_eq!(a.len(), y.len());
    assert_eq!(b.len(), y.len());
    assert_eq!(c.len(), y.len());
    for (((yi, &ai), &bi), &ci) in y.iter_mut().zip(a).zip(b).zip(c) {
        *yi = f(ai, bi, ci);
    }
}

/// `y[i] = f(y[i], x[i])`, in place.
pub fn update1<T: Copy + Send + Sync, F: Fn(T, T) -> T + Sync + Send>(y: &mut [T], x: &[T], f: F) {
    assert_eq!(x.len(), y.len());
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi = f(*yi, xi);
    }
}
