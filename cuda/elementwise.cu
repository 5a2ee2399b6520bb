// Elementwise kernels: fill, unary ops and their reverse rules, broadcasting
// binary ops, the in-place updates (axpy, scale, Adam) and the linear
// combinations of RK stages. Scalar definitions come from common.cuh.
#include "common.cuh"

// Broadcast of two operands to an output shape: stride 0 on broadcast axes.
struct Broadcast {
    int rank;
    int contiguous;  // both operands already have the output's shape
    size_t dims[MAX_RANK];
    size_t sa[MAX_RANK];
    size_t sb[MAX_RANK];
};

// Binary op codes (BinaryCode in codes.rs).
#define B_ADD 0
#define B_SUB 1
#define B_MUL 2
#define B_DIV 3
#define B_MAX 4
#define B_MIN 5

template <typename T>
__device__ __forceinline__ T binary_eval(int op, T a, T b) {
    switch (op) {
        case B_ADD: return a + b;
        case B_SUB: return a - b;
        case B_MUL: return a * b;
        case B_DIV: return a / b;
        case B_MAX: return fmax(a, b);
        default: return fmin(a, b);
    }
}

template <typename T>
__device__ void fill(T* out, T value, size_t n) {
    FOR_EACH(i, n) out[i] = value;
}

template <typename T>
__device__ void unary_fwd(UnaryArgs a, const T* x, T* y, size_t n) {
    FOR_EACH(i, n) y[i] = unary_eval(a, x[i]);
}

// gx = gy · f'(x), with y = f(x) saved by the forward pass.
template <typename T>
__device__ void unary_bwd(UnaryArgs a, const T* x, const T* y, const T* gy, T* gx, size_t n) {
    FOR_EACH(i, n) gx[i] = gy[i] * unary_deriv(a, x[i], y[i]);
}

template <typename T>
__device__ void binary_fwd(int op, Broadcast bc, const T* a, const T* b, T* out, size_t n) {
    if (bc.contiguous) {
        FOR_EACH(i, n) out[i] = binary_eval(op, a[i], b[i]);
        return;
    }
    FOR_EACH(i, n) {
        size_t rest = i, ia = 0, ib = 0;
        for (int ax = bc.rank - 1; ax >= 0; --ax) {
            size_t d = bc.dims[ax], c = rest % d;
            rest /= d;
            ia += c * bc.sa[ax];
            ib += c * bc.sb[ax];
        }
        out[i] = binary_eval(op, a[ia], b[ib]);
    }
}

template <typename T>
__device__ void axpy(T alpha, const T* x, T* y, size_t n) {
    FOR_EACH(i, n) y[i] += alpha * x[i];
}

template <typename T>
__device__ void scale(T alpha, T* y, size_t n) {
    FOR_EACH(i, n) y[i] *= alpha;
}

// One Adam(W) step in place (see BackendStorage::adam_update).
template <typename T>
__device__ void adam(T* p, const T* g, T* m, T* v, T lr, T beta1, T beta2, T eps, T wd, T bc1, T bc2, size_t n) {
    FOR_EACH(i, n) {
        T gi = g[i];
        T mi = beta1 * m[i] + (T(1) - beta1) * gi;
        T vi = beta2 * v[i] + (T(1) - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        T pi = p[i];
        pi -= lr * wd * pi;
        p[i] = pi - lr * (mi / bc1) / (w_sqrt(vi / bc2) + eps);
    }
}

// Up to this many terms in one linear combination.
#define MAX_TERMS 8

struct Terms {
    int count;
    double coef[MAX_TERMS];
    const void* ptr[MAX_TERMS];
};

// out = Σ_j coef_j · x_j: the stage inputs and the step update of a
// Runge–Kutta method in one pass over memory.
template <typename T>
__device__ void lincomb(Terms t, T* out, size_t n) {
    FOR_EACH(i, n) {
        T acc = T(t.coef[0]) * ((const T*)t.ptr[0])[i];
        for (int j = 1; j < t.count; ++j) acc += T(t.coef[j]) * ((const T*)t.ptr[j])[i];
        out[i] = acc;
    }
}

#define INSTANTIATE(T, S)                                                                                        \
    extern "C" __global__ void fill_##S(T* out, T value, size_t n) { fill(out, value, n); }                     \
    extern "C" __global__ void unary_fwd_##S(UnaryArgs a, const T* x, T* y, size_t n) { unary_fwd(a, x, y, n); } \
    extern "C" __global__ void unary_bwd_##S(UnaryArgs a, const T* x, const T* y, const T* gy, T* gx, size_t n) { \
        unary_bwd(a, x, y, gy, gx, n);                                                                           \
    }                                                                                                            \
    extern "C" __global__ void binary_fwd_##S(int op, Broadcast bc, const T* a, const T* b, T* out, size_t n) {   \
        binary_fwd(op, bc, a, b, out, n);                                                                        \
    }                                                                                                            \
    extern "C" __global__ void axpy_##S(T alpha, const T* x, T* y, size_t n) { axpy(alpha, x, y, n); }          \
    extern "C" __global__ void scale_##S(T alpha, T* y, size_t n) { scale(alpha, y, n); }                       \
    extern "C" __global__ void adam_##S(T* p, const T* g, T* m, T* v, T lr, T beta1, T beta2, T eps, T wd, T bc1, \
                                        T bc2, size_t n) {                                                       \
        adam(p, g, m, v, lr, beta1, beta2, eps, wd, bc1, bc2, n);                                                \
    }                                                                                                            \
    extern "C" __global__ void lincomb_##S(Terms t, T* out, size_t n) { lincomb<T>(t, out, n); }

INSTANTIATE(float, f32)
INSTANTIATE(double, f64)
