// Reductions: sum/max/min over one axis of an (outer, len, inner) layout,
// and the whole-buffer sum of squares and finiteness test. Every reduction
// has a fixed shape of partial sums, so results never depend on timing.
#include "common.cuh"

// Reduce op codes (ReduceCode in codes.rs).
#define R_SUM 0
#define R_MAX 1
#define R_MIN 2

template <typename T>
__device__ __forceinline__ T reduce_identity(int op) {
    if (op == R_SUM) return T(0);
    return op == R_MAX ? T(-INFINITY) : T(INFINITY);
}

template <typename T>
__device__ __forceinline__ T reduce_combine(int op, T a, T b) {
    if (op == R_SUM) return a + b;
    return op == R_MAX ? fmax(a, b) : fmin(a, b);
}

// One thread per output: out[o·inner + c] = ⊕_l x[(o·len + l)·inner + c].
// Neighbouring threads read neighbouring columns, so loads coalesce.
template <typename T>
__device__ void reduce_thread(int op, const T* x, T* out, size_t outer, size_t len, size_t inner) {
    FOR_EACH(i, outer * inner) {
        size_t o = i / inner, c = i % inner;
        const T* src = x + o * len * inner + c;
        T acc = reduce_identity<T>(op);
        for (size_t l = 0; l < len; ++l) acc = reduce_combine(op, acc, src[l * inner]);
        out[i] = acc;
    }
}

// One block of 256 threads per output, for few long reductions.
template <typename T>
__device__ void reduce_block(int op, const T* x, T* out, size_t len, size_t inner) {
    __shared__ T part[256];
    size_t i = blockIdx.x;
    size_t o = i / inner, c = i % inner;
    const T* src = x + o * len * inner + c;
    T acc = reduce_identity<T>(op);
    for (size_t l = threadIdx.x; l < len; l += blockDim.x) acc = reduce_combine(op, acc, src[l * inner]);
    part[threadIdx.x] = acc;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) part[threadIdx.x] = reduce_combine(op, part[threadIdx.x], part[threadIdx.x + s]);
        __syncthreads();
    }
    if (threadIdx.x == 0) out[i] = part[0];
}

// Partial sums of squares (in f64) of a grid-stride slice per block.
template <typename T>
__device__ void sum_squares_partial(const T* x, size_t n, double* partials) {
    __shared__ double part[256];
    double acc = 0.0;
    FOR_EACH(i, n) {
        double v = (double)x[i];
        acc += v * v;
    }
    part[threadIdx.x] = acc;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) partials[blockIdx.x] = part[0];
}

// Count of non-finite elements per block.
template <typename T>
__device__ void count_nonfinite_partial(const T* x, size_t n, double* partials) {
    __shared__ double part[256];
    double acc = 0.0;
    FOR_EACH(i, n) acc += isfinite(x[i]) ? 0.0 : 1.0;
    part[threadIdx.x] = acc;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) partials[blockIdx.x] = part[0];
}

// The sum of `count` partials in index order, by one thread.
extern "C" __global__ void sum_partials_f64(const double* partials, size_t count, double* out) {
    if (blockIdx.x == 0 && threadIdx.x == 0) {
        double acc = 0.0;
        for (size_t i = 0; i < count; ++i) acc += partials[i];
        *out = acc;
    }
}

#define INSTANTIATE(T, S)                                                                                        \
    extern "C" __global__ void reduce_thread_fwd_##S(int op, const T* x, T* out, size_t outer, size_t len,      \
                                                     size_t inner) {                                           \
        reduce_thread(op, x, out, outer, len, inner);                                                           \
    }                                                                                                           \
    extern "C" __global__ void reduce_block_fwd_##S(int op, const T* x, T* out, size_t len, size_t inner) {     \
        reduce_block(op, x, out, len, inner);                                                                   \
    }                                                                                                           \
    extern "C" __global__ void sum_squares_##S(const T* x, size_t n, double* partials) {                        \
        sum_squares_partial(x, n, partials);                                                                    \
    }                                                                                                           \
    extern "C" __global__ void count_nonfinite_##S(const T* x, size_t n, double* partials) {                    \
        count_nonfinite_partial(x, n, partials);                                                                \
    }

INSTANTIATE(float, f32)
INSTANTIATE(double, f64)
