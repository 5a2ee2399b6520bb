//! A caching allocator for host buffers.
//!
//! Training loops allocate the same buffer sizes every iteration. Large `Vec`s
//! come from `mmap` and go back to the kernel when freed, so each op would pay
//! for page faults on fresh memory; keeping freed buffers by length and
//! handing them out again removes that cost (SPEC: no allocation per op in
//! the hot loop). The cache is bounded; beyond the bound buffers are freed.
//!
//! A thread gets back the buffers it freed itself when it can: their cache
//! lines are still in its core's cache, owned. A buffer last written on
//! another core costs a cross-core ownership request per line on the first
//! store, which the store buffer serializes (tens of nanoseconds per 64
//! bytes on the 2-core VM), so data-parallel shards that swapped buffers
//! every iteration would pay it on every activation they write.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::{LazyLock, Mutex};
use std::thread::{self, ThreadId};

/// Upper bound on bytes kept in one element type's cache.
const MAX_CACHED_BYTES: usize = 1 << 30;
/// Buffers shorter than this are not worth caching: malloc serves them fast.
const MIN_CACHED_LEN: usize = 1024;

/// The per-element-type cache: free buffers grouped by length.
pub struct Pool<T> {
    inner: Mutex<PoolInner<T>>,
}

struct PoolInner<T> {
    /// By length: the free buffers, each with the thread that freed it.
    free: HashMap<usize, Vec<(ThreadId, Vec<T>)>>,
    bytes: usize,
}

impl<T> Pool<T> {
    fn new() -> Self {
        Pool { inner: Mutex::new(PoolInner { free: HashMap::new(), bytes: 0 }) }
    }

    fn take(&self, len: usize) -> Option<Vec<T>> {
        if len < MIN_CACHED_LEN {
            return None;
        }
        let me = thread::current().id();
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let list = g.free.get_mut(&len)?;
        let at = list.iter().rposition(|(owner, _)| *owner == me).or(list.len().checked_sub(1))?;
        let (_, v) = list.remove(at);
        g.bytes -= len * size_of::<T>();
        Some(v)
    }

    fn give(&self, v: Vec<T>) {
        let len = v.len();
        if len < MIN_CACHED_LEN {
            return;
        }
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let bytes = len * size_of::<T>();
        if g.bytes + bytes > MAX_CACHED_BYTES {
            return;
        }
        g.bytes += bytes;
        g.free.entry(len).or_default().push((thread::current().id(), v));
    }

    /// Frees every cached buffer.
    pub fn clear(&self) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.free.clear();
        g.bytes = 0;
    }

    /// Bytes currently held in the cache.
    pub fn cached_bytes(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).bytes
    }
}

/// Element types with a buffer cache of their own.
pub trait Pooled: Copy + Default + Send + Sync + 'static {
    fn pool() -> &'static Pool<Self>;
}

static POOL_F32: LazyLock<Pool<f32>> = LazyLock::new(Pool::new);
static POOL_F64: LazyLock<Pool<f64>> = LazyLock::new(Pool::new);

impl Pooled for f32 {
    fn pool() -> &'static Pool<Self> {
        &POOL_F32
    }
}
impl Pooled for f64 {
    fn pool() -> &'static Pool<Self> {
        &POOL_F64
    }
}

/// A host buffer that returns to its pool when dropped, if it came from the
/// pool's side: taken from it, or allocated because it had none of that
/// length. A buffer adopted from a caller's `Vec` is freed instead: such
/// buffers are made afresh each iteration (minibatches, noise) and never
/// taken back out, so caching them would only grow the cache.
pub struct Buffer<T: Pooled> {
    data: Vec<T>,
    recycle: bool,
}

impl<T: Pooled> Buffer<T> {
    /// A buffer of `len` elements whose contents are unspecified (a reused
    /// buffer keeps old values): the caller overwrites every element.
    pub fn uninit(len: usize) -> Self {
        match T::pool().take(len) {
            Some(data) => Buffer { data, recycle: true },
            None => Buffer { data: vec![T::default(); len], recycle: true },
        }
    }
    /// A buffer of `len` copies of `value`.
    pub fn filled(len: usize, value: T) -> Self {
        let mut b = Self::uninit(len);
        b.data.fill(value);
        b
    }
    pub fn from_slice(s: &[T]) -> Self {
        let mut b = Self::uninit(s.len());
        b.data.copy_from_slice(s);
        b
    }
    pub fn from_vec(data: Vec<T>) -> Self {
        Buffer { data, recycle: false }
    }
    /// Moves the contents out (the allocation leaves the pool's care).
    pub fn into_vec(mut self) -> Vec<T> {
        std::mem::take(&mut self.data)
    }
}

impl<T: Pooled> Clone for Buffer<T> {
    fn clone(&self) -> Self {
        Self::from_slice(&self.data)
    }
}

impl<T: Pooled> Drop for Buffer<T> {
    fn drop(&mut self) {
        let data = std::mem::take(&mut self.data);
        if self.recycle && !data.is_empty() {
            T::pool().give(data);
        }
    }
}

impl<T: Pooled> Deref for Buffer<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.data
    }
}
impl<T: Pooled> DerefMut for Buffer<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_by_length() {
        let n = 4099; // a length no other test uses
        let b = Buffer::<f64>::filled(n, 1.5);
        let p = b.as_ptr();
        drop(b);
        let c = Buffer::<f64>::uninit(n);
        assert_eq!(c.as_ptr(), p);
        assert_eq!(c.len(), n);
    }

    #[test]
    fn adopted_vectors_do_not_grow_the_cache() {
        let n = 4111; // a length no other test uses
        for _ in 0..10 {
            drop(Buffer::<f32>::from_vec(vec![0.0; n]));
        }
        assert!(f32::pool().take(n).is_none(), "an adopted vector was cached");
    }
}
