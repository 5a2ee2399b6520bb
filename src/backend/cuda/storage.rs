//! [`CudaStorage`]: a tensor's elements in device memory, and the
//! [`BackendStorage`] primitives as launches of the embedded kernels. Every
//! launch is queued on the device's stream; only the methods that return
//! host values (`to_vec`, `sum_squares`, `all_finite`) wait for it.

use std::marker::PhantomData;

use super::context::{CudaDevice, tf32};
use super::launch::{THREADS, arg, blocks_for, kernel_name, launch};
use super::memory::DeviceMem;
use super::params::{self, Broadcast, UnaryArgs, View};
use crate::backend::cpu::gemm::Transpose;
use crate::backend::{Activation, BackendStorage, BinaryOp, Device, ReduceOp, StridedView, UnaryOp};
use crate::tensor::{DType, Float, Shape};
use crate::{Error, Result};

/// `len` elements of `T` on one device.
pub struct CudaStorage<T> {
    mem: DeviceMem,
    len: usize,
    _t: PhantomData<T>,
}

/// The bytes of host elements (only `f32` and `f64` implement `Float`).
fn as_bytes<T: Float>(data: &[T]) -> &[u8] {
    // SAFETY: f32/f64 are plain old data; reading their bytes is always valid.
    unsafe { std::slice::from_raw_parts(data.as_ptr().cast(), std::mem::size_of_val(data)) }
}

fn as_bytes_mut<T: Float>(data: &mut [T]) -> &mut [u8] {
    // SAFETY: as above, and every bit pattern is a valid f32/f64.
    unsafe { std::slice::from_raw_parts_mut(data.as_mut_ptr().cast(), std::mem::size_of_val(data)) }
}

/// Checks the CUDA device `ordinal` can be used.
pub fn check_device(ordinal: usize) -> Result<()> {
    CudaDevice::get(ordinal).map(|_| ())
}

/// Gemm variants: `(kernel, tile)` by problem size.
fn gemm_kernel<T: Float>(dev: &CudaDevice, batch: usize, m: usize, n: usize) -> (&'static str, usize, u32) {
    if T::DTYPE == DType::F32 && tf32() {
        return ("gemm_tf32_fwd_f32", 128, 256);
    }
    let sms = dev.multiprocessors as usize;
    let tiles = |t: usize| batch * m.div_ceil(t) * n.div_ceil(t);
    if tiles(128) >= sms {
        (kernel_name!("gemm128_fwd", T), 128, 256)
    } else if tiles(64) >= sms {
        (kernel_name!("gemm64_fwd", T), 64, 256)
    } else {
        (kernel_name!("gemm32_fwd", T), 32, 256)
    }
}

impl<T: Float> CudaStorage<T> {
    fn dev(&self) -> &'static CudaDevice {
        self.mem.dev
    }
    fn ptr(&self) -> u64 {
        self.mem.ptr()
    }
    /// Uninitialized storage of `len` elements; the caller's kernel writes all of it.
    fn uninit(dev: &'static CudaDevice, len: usize) -> Result<Self> {
        Ok(CudaStorage { mem: DeviceMem::alloc(dev, len * std::mem::size_of::<T>())?, len, _t: PhantomData })
    }

    /// Host data copied to the device `ordinal`.
    pub fn from_host(data: &[T], ordinal: usize) -> Result<Self> {
        let dev = CudaDevice::get(ordinal)?;
        Ok(CudaStorage { mem: DeviceMem::from_host(dev, as_bytes(data))?, len: data.len(), _t: PhantomData })
    }

    /// `len` copies of `value` on the device `ordinal`.
    pub fn full(len: usize, value: T, ordinal: usize) -> Result<Self> {
        let dev = CudaDevice::get(ordinal)?;
        let out = Self::uninit(dev, len)?;
        out.fill(value)?;
        Ok(out)
    }

    fn fill(&self, value: T) -> Result<()> {
        if self.len == 0 {
            return Ok(());
        }
        let dev = self.dev();
        let (mut p, mut v, mut n) = (self.ptr(), value, self.len);
        unsafe {
            launch(dev, kernel_name!("fill", T), (blocks_for(dev, n), 1, 1), THREADS, &mut [arg!(p), arg!(v), arg!(n)])
        }
    }

    /// Reduces `(outer, len, inner)` over the middle axis into `out` (`outer·inner`).
    fn reduce_into(&self, op: ReduceOp, outer: usize, len: usize, inner: usize, out: &Self) -> Result<()> {
        let dev = self.dev();
        let outputs = outer * inner;
        if outputs == 0 {
            return Ok(());
        }
        let (mut code, mut x, mut o) = (params::reduce_code(op), self.ptr(), out.ptr());
        let (mut outer, mut len, mut inner) = (outer, len, inner);
        // Few long reductions: a block each; otherwise a thread each.
        if outputs < dev.multiprocessors as usize * 64 && len >= 64 {
            let mut args = [arg!(code), arg!(x), arg!(o), arg!(len), arg!(inner)];
            unsafe { launch(dev, kernel_name!("reduce_block_fwd", T), (outputs as u32, 1, 1), THREADS, &mut args) }
        } else {
            let mut args = [arg!(code), arg!(x), arg!(o), arg!(outer), arg!(len), arg!(inner)];
            unsafe {
                launch(dev, kernel_name!("reduce_thread_fwd", T), (blocks_for(dev, outputs), 1, 1), THREADS, &mut args)
            }
        }
    }

    /// A whole-buffer reduction to one f64 through fixed partials.
    fn reduce_to_host(&self, kernel: &'static str) -> Result<f64> {
        if self.len == 0 {
            return Ok(0.0);
        }
        let dev = self.dev();
        let blocks = blocks_for(dev, self.len).min(256);
        let partials = DeviceMem::alloc(dev, blocks as usize * 8)?;
        let total = DeviceMem::alloc(dev, 8)?;
        let (mut x, mut n, mut p, mut t, mut count) =
            (self.ptr(), self.len, partials.ptr(), total.ptr(), blocks as usize);
        unsafe {
            launch(dev, kernel, (blocks, 1, 1), THREADS, &mut [arg!(x), arg!(n), arg!(p)])?;
            launch(dev, "sum_partials_f64", (1, 1, 1), 1, &mut [arg!(p), arg!(count), arg!(t)])?;
        }
        let mut out = [0f64];
        total.to_host(&mut out)?;
        Ok(out[0])
    }

    /// Uploads indices as i64.
    fn upload_indices(&self, idx: &[i64]) -> Result<DeviceMem> {
        DeviceMem::from_host(self.dev(), idx)
    }
}

impl<T: Float> Clone for CudaStorage<T> {
    fn clone(&self) -> Self {
        // Allocation failure here is out of device memory mid-computation:
        // an internal invariant of the run, not a user input.
        let mem = self.mem.duplicate().expect("CUDA: duplicating a device buffer failed (out of memory?)");
        CudaStorage { mem, len: self.len, _t: PhantomData }
    }
}

fn same_device(a: &CudaDevice, b: &CudaDevice, what: &str) -> Result<()> {
    if a.ordinal == b.ordinal {
        Ok(())
    } else {
        Err(Error::Device(format!("{what}: operands on cuda:{} and cuda:{}", a.ordinal, b.ordinal)))
    }
}

impl<T: Float> BackendStorage<T> for CudaStorage<T> {
    fn device(&self) -> Device {
        Device::Cuda(self.dev().ordinal)
    }
    fn len(&self) -> usize {
        self.len
    }
    fn to_vec(&self) -> Result<Vec<T>> {
        let mut out = vec![T::ZERO; self.len];
        self.mem.to_host(as_bytes_mut(&mut out))?;
        Ok(out)
    }
    fn full_like(&self, len: usize, value: T) -> Result<Self> {
        let out = Self::uninit(self.dev(), len)?;
        out.fill(value)?;
        Ok(out)
    }
    fn unary(&self, op: UnaryOp) -> Result<Self> {
        let dev = self.dev();
        let out = Self::uninit(dev, self.len)?;
        if self.len > 0 {
            let (mut a, mut x, mut y, mut n) = (UnaryArgs::new(op), self.ptr(), out.ptr(), self.len);
            let mut args = [arg!(a), arg!(x), arg!(y), arg!(n)];
            unsafe { launch(dev, kernel_name!("unary_fwd", T), (blocks_for(dev, n), 1, 1), THREADS, &mut args)? };
        }
        Ok(out)
    }
    fn unary_backward(&self, y: &Self, gy: &Self, op: UnaryOp) -> Result<Self> {
        let dev = self.dev();
        same_device(dev, gy.dev(), op.name())?;
        let out = Self::uninit(dev, self.len)?;
        if self.len > 0 {
            let (mut a, mut x, mut yp, mut g, mut gx, mut n) =
                (UnaryArgs::new(op), self.ptr(), y.ptr(), gy.ptr(), out.ptr(), self.len);
            let mut args = [arg!(a), arg!(x), arg!(yp), arg!(g), arg!(gx), arg!(n)];
            unsafe { launch(dev, kernel_name!("unary_bwd", T), (blocks_for(dev, n), 1, 1), THREADS, &mut args)? };
        }
        Ok(out)
    }
    fn binary(&self, rhs: &Self, op: BinaryOp, ls: &Shape, rs: &Shape, out_shape: &Shape) -> Result<Self> {
        let dev = self.dev();
        same_device(dev, rhs.dev(), op.name())?;
        let n = out_shape.numel();
        let out = Self::uninit(dev, n)?;
        if n > 0 {
            let mut bc = Broadcast::new(ls, rs, out_shape)?;
            let (mut code, mut a, mut b, mut o, mut n) = (params::binary_code(op), self.ptr(), rhs.ptr(), out.ptr(), n);
            let mut args = [arg!(code), arg!(bc), arg!(a), arg!(b), arg!(o), arg!(n)];
            unsafe { launch(dev, kernel_name!("binary_fwd", T), (blocks_for(dev, n), 1, 1), THREADS, &mut args)? };
        }
        Ok(out)
    }
    fn reduce(&self, op: ReduceOp, shape: &Shape, axis: usize) -> Result<Self> {
        let (outer, len, inner) = shape.split_at_axis(axis);
        let out = Self::uninit(self.dev(), outer * inner)?;
        self.reduce_into(op, outer, len, inner, &out)?;
        Ok(out)
    }
    fn copy_strided(&self, src: &StridedView) -> Result<Self> {
        let dev = self.dev();
        let n = src.numel();
        let out = Self::uninit(dev, n)?;
        if n > 0 {
            let (mut v, mut s, mut o, mut n) = (View::new(src)?, self.ptr(), out.ptr(), n);
            let mut args = [arg!(v), arg!(s), arg!(o), arg!(n)];
            unsafe {
                launch(dev, kernel_name!("copy_strided_fwd", T), (blocks_for(dev, n), 1, 1), THREADS, &mut args)?
            };
        }
        Ok(out)
    }
    fn copy_into(&self, target: &mut Self, dst: &StridedView) -> Result<()> {
        let dev = self.dev();
        same_device(dev, target.dev(), "copy")?;
        let n = dst.numel();
        if n > 0 {
            let (mut v, mut s, mut t, mut n) = (View::new(dst)?, self.ptr(), target.ptr(), n);
            let mut args = [arg!(v), arg!(s), arg!(t), arg!(n)];
            unsafe { launch(dev, kernel_name!("copy_into_fwd", T), (blocks_for(dev, n), 1, 1), THREADS, &mut args)? };
        }
        Ok(())
    }
    fn matmul(
        &self,
        rhs: &Self,
        ta: Transpose,
        tb: Transpose,
        batch: usize,
        m: usize,
        n: usize,
        k: usize,
        a_batch_stride: usize,
        b_batch_stride: usize,
    ) -> Result<Self> {
        let dev = self.dev();
        same_device(dev, rhs.dev(), "matmul")?;
        gemm(self, rhs, None, ta, tb, batch, m, n, k, a_batch_stride, b_batch_stride)
    }
    fn affine(&self, w: &Self, b: &Self, m: usize, n: usize, k: usize) -> Result<Self> {
        let dev = self.dev();
        same_device(dev, w.dev(), "affine")?;
        same_device(dev, b.dev(), "affine")?;
        gemm(self, w, Some(b), Transpose::No, Transpose::No, 1, m, n, k, 0, 0)
    }
    fn bias_act(&self, b: &Self, width: usize, act: Activation) -> Result<Self> {
        let dev = self.dev();
        same_device(dev, b.dev(), "bias_act")?;
        let out = Self::uninit(dev, self.len)?;
        if self.len > 0 {
            let (code, p) = params::activation_code(act);
            let (mut code, mut p) = (code, T::from_f64(p));
            let (mut z, mut bp, mut y, mut n, mut w) = (self.ptr(), b.ptr(), out.ptr(), self.len, width);
            let mut args = [arg!(code), arg!(p), arg!(z), arg!(bp), arg!(y), arg!(n), arg!(w)];
            unsafe { launch(dev, kernel_name!("bias_act_fwd", T), (blocks_for(dev, n), 1, 1), THREADS, &mut args)? };
        }
        Ok(out)
    }
    fn bias_act_backward(&self, b: &Self, y: &Self, g: &Self, width: usize, act: Activation) -> Result<(Self, Self)> {
        let dev = self.dev();
        same_device(dev, g.dev(), "bias_act")?;
        let gz = Self::uninit(dev, self.len)?;
        let gb = Self::uninit(dev, width)?;
        if self.len > 0 {
            let (code, p) = params::activation_code(act);
            let (mut code, mut p) = (code, T::from_f64(p));
            let (mut z, mut bp, mut yp, mut gp, mut gzp, mut n, mut w) =
                (self.ptr(), b.ptr(), y.ptr(), g.ptr(), gz.ptr(), self.len, width);
            let mut args = [arg!(code), arg!(p), arg!(z), arg!(bp), arg!(yp), arg!(gp), arg!(gzp), arg!(n), arg!(w)];
            unsafe { launch(dev, kernel_name!("bias_act_bwd", T), (blocks_for(dev, n), 1, 1), THREADS, &mut args)? };
            gz.reduce_into(ReduceOp::Sum, 1, self.len / width, width, &gb)?;
        } else {
            gb.fill(T::ZERO)?;
        }
        Ok((gz, gb))
    }
    fn tangent_act(&self, b: &Self, batch: usize, width: usize, act: Activation) -> Result<Self> {
        let dev = self.dev();
        same_device(dev, b.dev(), "tangent_act")?;
        let out = Self::uninit(dev, self.len)?;
        if self.len > 0 {
            let (code, p) = params::activation_code(act);
            let (mut code, mut p) = (code, T::from_f64(p));
            let (mut z, mut bp, mut o, mut n, mut bt, mut w) = (self.ptr(), b.ptr(), out.ptr(), self.len, batch, width);
            let mut args = [arg!(code), arg!(p), arg!(z), arg!(bp), arg!(o), arg!(n), arg!(bt), arg!(w)];
            unsafe { launch(dev, kernel_name!("tangent_act_fwd", T), (blocks_for(dev, n), 1, 1), THREADS, &mut args)? };
        }
        Ok(out)
    }
    fn tangent_act_backward(
        &self,
        b: &Self,
        y: &Self,
        g: &Self,
        batch: usize,
        width: usize,
        act: Activation,
    ) -> Result<(Self, Self)> {
        let dev = self.dev();
        same_device(dev, g.dev(), "tangent_act")?;
        let gz = Self::uninit(dev, self.len)?;
        let gb = Self::uninit(dev, width)?;
        if self.len > 0 {
            let (code, p) = params::activation_code(act);
            let (mut code, mut p) = (code, T::from_f64(p));
            let (mut z, mut bp, mut yp, mut gp, mut gzp, mut n, mut bt, mut w) =
                (self.ptr(), b.ptr(), y.ptr(), g.ptr(), gz.ptr(), self.len, batch, width);
            let mut args =
                [arg!(code), arg!(p), arg!(z), arg!(bp), arg!(yp), arg!(gp), arg!(gzp), arg!(n), arg!(bt), arg!(w)];
            unsafe { launch(dev, kernel_name!("tangent_act_bwd", T), (blocks_for(dev, n), 1, 1), THREADS, &mut args)? };
            // The bias gradient sums the primal rows only.
            gz.reduce_into(ReduceOp::Sum, 1, batch, width, &gb)?;
        } else {
            gb.fill(T::ZERO)?;
        }
        Ok((gz, gb))
    }
    fn gather_rows(&self, idx: &[usize], row_len: usize) -> Result<Self> {
        let dev = self.dev();
        let n = idx.len() * row_len;
        let out = Self::uninit(dev, n)?;
        if n > 0 {
            let idx64: Vec<i64> = idx.iter().map(|&i| i as i64).collect();
            let d_idx = self.upload_indices(&idx64)?;
            let (mut s, mut i, mut o, mut rows, mut rl) = (self.ptr(), d_idx.ptr(), out.ptr(), idx.len(), row_len);
            let mut args = [arg!(s), arg!(i), arg!(o), arg!(rows), arg!(rl)];
            unsafe { launch(dev, kernel_name!("gather_rows_fwd", T), (blocks_for(dev, n), 1, 1), THREADS, &mut args)? };
        }
        Ok(out)
    }
    fn scatter_add_rows(&self, idx: &[usize], n_rows: usize, row_len: usize) -> Result<Self> {
        let dev = self.dev();
        let n = n_rows * row_len;
        let out = Self::uninit(dev, n)?;
        if n > 0 {
            let (starts, sources) = params::inverse_index(idx, n_rows);
            let (d_starts, d_sources) = (self.upload_indices(&starts)?, self.upload_indices(&sources)?);
            let (mut s, mut st, mut so, mut o, mut nr, mut rl) =
                (self.ptr(), d_starts.ptr(), d_sources.ptr(), out.ptr(), n_rows, row_len);
            let mut args = [arg!(s), arg!(st), arg!(so), arg!(o), arg!(nr), arg!(rl)];
            unsafe { launch(dev, kernel_name!("gather_rows_bwd", T), (blocks_for(dev, n), 1, 1), THREADS, &mut args)? };
        }
        Ok(out)
    }
    fn lincomb(terms: &[(T, &Self)]) -> Result<Self> {
        let dev = terms[0].1.dev();
        let n = terms[0].1.len;
        let out = Self::uninit(dev, n)?;
        if n == 0 {
            return Ok(out);
        }
        // Up to MAX_TERMS at a time; later chunks add the running result back in.
        let mut acc: Option<&Self> = None;
        let mut rest = terms;
        while !rest.is_empty() {
            let room = params::MAX_TERMS - usize::from(acc.is_some());
            let (now, later) = rest.split_at(rest.len().min(room));
            let mut t = params::Terms { count: 0, coef: [0.0; params::MAX_TERMS], ptr: [0; params::MAX_TERMS] };
            for (c, x) in acc.map(|a| (T::ONE, a)).into_iter().chain(now.iter().copied()) {
                same_device(dev, x.dev(), "lincomb")?;
                t.coef[t.count as usize] = c.to_f64();
                t.ptr[t.count as usize] = x.ptr();
                t.count += 1;
            }
            let (mut o, mut n) = (out.ptr(), n);
            let mut args = [arg!(t), arg!(o), arg!(n)];
            unsafe { launch(dev, kernel_name!("lincomb", T), (blocks_for(dev, n), 1, 1), THREADS, &mut args)? };
            acc = Some(&out);
            rest = later;
        }
        Ok(out)
    }
    fn axpy(&mut self, alpha: T, x: &Self) -> Result<()> {
        let dev = self.dev();
        same_device(dev, x.dev(), "axpy")?;
        if self.len > 0 {
            let (mut a, mut xp, mut y, mut n) = (alpha, x.ptr(), self.ptr(), self.len);
            let mut args = [arg!(a), arg!(xp), arg!(y), arg!(n)];
            unsafe { launch(dev, kernel_name!("axpy", T), (blocks_for(dev, n), 1, 1), THREADS, &mut args)? };
        }
        Ok(())
    }
    fn scale(&mut self, alpha: T) -> Result<()> {
        let dev = self.dev();
        if self.len > 0 {
            let (mut a, mut y, mut n) = (alpha, self.ptr(), self.len);
            let mut args = [arg!(a), arg!(y), arg!(n)];
            unsafe { launch(dev, kernel_name!("scale", T), (blocks_for(dev, n), 1, 1), THREADS, &mut args)? };
        }
        Ok(())
    }
    fn sum_squares(&self) -> Result<f64> {
        self.reduce_to_host(kernel_name!("sum_squares", T))
    }
    fn all_finite(&self) -> Result<bool> {
        Ok(self.reduce_to_host(kernel_name!("count_nonfinite", T))? == 0.0)
    }
    fn adam_update(
        &mut self,
        grad: &Self,
        m: &mut Self,
        v: &mut Self,
        lr: T,
        beta1: T,
        beta2: T,
        eps: T,
        weight_decay: T,
        bc1: T,
        bc2: T,
    ) -> Result<()> {
        let dev = self.dev();
        same_device(dev, grad.dev(), "adam")?;
        if self.len > 0 {
            let (mut p, mut g, mut mp, mut vp, mut n) = (self.ptr(), grad.ptr(), m.ptr(), v.ptr(), self.len);
            let (mut lr, mut b1, mut b2, mut eps, mut wd, mut c1, mut c2) =
                (lr, beta1, beta2, eps, weight_decay, bc1, bc2);
            let mut args = [
                arg!(p),
                arg!(g),
                arg!(mp),
                arg!(vp),
                arg!(lr),
                arg!(b1),
                arg!(b2),
                arg!(eps),
                arg!(wd),
                arg!(c1),
                arg!(c2),
                arg!(n),
            ];
            unsafe { launch(dev, kernel_name!("adam", T), (blocks_for(dev, n), 1, 1), THREADS, &mut args)? };
        }
        Ok(())
    }
}

/// `op(a)·op(b) (+ bias)`, batched.
#[allow(clippy::too_many_arguments)]
fn gemm<T: Float>(
    a: &CudaStorage<T>,
    b: &CudaStorage<T>,
    bias: Option<&CudaStorage<T>>,
    ta: Transpose,
    tb: Transpose,
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
    a_batch_stride: usize,
    b_batch_stride: usize,
) -> Result<CudaStorage<T>> {
    let dev = a.dev();
    let out = CudaStorage::<T>::uninit(dev, batch * m * n)?;
    if batch * m * n == 0 {
        return Ok(out);
    }
    if k == 0 {
        // An empty inner dimension: the product is 0, plus the bias row.
        out.fill(T::ZERO)?;
        return match bias {
            Some(b) => out.binary(b, BinaryOp::Add, &Shape::new(&[m, n]), &Shape::new(&[n]), &Shape::new(&[m, n])),
            None => Ok(out),
        };
    }
    let limit = i32::MAX as usize;
    if m > limit || n > limit || k > limit || batch > 65_535 {
        return Err(Error::Device(format!("matmul of {batch}×{m}×{n}×{k} exceeds the CUDA kernels' index range")));
    }
    let (kernel, tile, threads) = gemm_kernel::<T>(dev, batch, m, n);
    let grid = (n.div_ceil(tile) as u32, m.div_ceil(tile) as u32, batch as u32);
    if grid.1 > 65_535 {
        return Err(Error::Device(format!("matmul with {m} rows exceeds the CUDA grid")));
    }
    let (mut ap, mut bp, mut biasp, mut cp) = (a.ptr(), b.ptr(), bias.map_or(0, |b| b.ptr()), out.ptr());
    let (mut mi, mut ni, mut ki) = (m as i32, n as i32, k as i32);
    let (mut sa, mut sb) = (a_batch_stride, b_batch_stride);
    let (mut tai, mut tbi) = (i32::from(ta == Transpose::Yes), i32::from(tb == Transpose::Yes));
    let mut args = [
        arg!(ap),
        arg!(bp),
        arg!(biasp),
        arg!(cp),
        arg!(mi),
        arg!(ni),
        arg!(ki),
        arg!(sa),
        arg!(sb),
        arg!(tai),
        arg!(tbi),
    ];
    unsafe { launch(dev, kernel, grid, threads, &mut args)? };
    Ok(out)
}
