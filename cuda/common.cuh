// Shared device code for every wasserflow kernel: the scalar definitions of
// the activations and unary ops, mirroring src/backend/op.rs, whose codes
// (src/backend/cuda/codes.rs) select them at run time.
#pragma once
#include <stdint.h>

// Activation codes (ActCode in codes.rs).
#define ACT_TANH 0
#define ACT_SIGMOID 1
#define ACT_SOFTPLUS 2
#define ACT_SILU 3
#define ACT_RELU 4
#define ACT_ELU 5
#define ACT_SELU 6
#define ACT_IDENTITY 7

// Unary op codes (UnaryCode in codes.rs).
#define U_NEG 0
#define U_EXP 1
#define U_LN 2
#define U_SQRT 3
#define U_SQUARE 4
#define U_RECIP 5
#define U_ABS 6
#define U_POWI 7
#define U_ADD_SCALAR 8
#define U_MUL_SCALAR 9
#define U_ACT 10
#define U_ACT_DERIV 11

#define SELU_ALPHA 1.6732632423543773
#define SELU_LAMBDA 1.0507009873554805

// A grid-stride loop over `n` elements.
#define FOR_EACH(i, n) for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (size_t)blockDim.x * gridDim.x)

__device__ __forceinline__ float w_exp(float x) { return expf(x); }
__device__ __forceinline__ double w_exp(double x) { return exp(x); }
__device__ __forceinline__ float w_log(float x) { return logf(x); }
__device__ __forceinline__ double w_log(double x) { return log(x); }
__device__ __forceinline__ float w_log1p(float x) { return log1pf(x); }
__device__ __forceinline__ double w_log1p(double x) { return log1p(x); }
__device__ __forceinline__ float w_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double w_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float w_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double w_sqrt(double x) { return sqrt(x); }

template <typename T>
__device__ __forceinline__ T w_sigmoid(T x) {
    // Both branches are exact; the split keeps exp from overflowing.
    if (x >= T(0)) return T(1) / (T(1) + w_exp(-x));
    T e = w_exp(x);
    return e / (T(1) + e);
}

template <typename T>
__device__ __forceinline__ T w_softplus(T x) {
    return fmax(x, T(0)) + w_log1p(w_exp(-fabs(x)));
}

template <typename T>
__device__ __forceinline__ T w_elu(T x, T alpha) {
    return x > T(0) ? x : alpha * (w_exp(x) - T(1));
}

// σ(x) for activation `act` with parameter `p` (β of softplus, α of elu).
template <typename T>
__device__ __forceinline__ T act_eval(int act, T p, T x) {
    switch (act) {
        case ACT_TANH: return w_tanh(x);
        case ACT_SIGMOID: return w_sigmoid(x);
        case ACT_SOFTPLUS: return w_softplus(p * x) / p;
        case ACT_SILU: return x * w_sigmoid(x);
        case ACT_RELU: return fmax(x, T(0));
        case ACT_ELU: return w_elu(x, p);
        case ACT_SELU: return T(SELU_LAMBDA) * w_elu(x, T(SELU_ALPHA));
        default: return x;
    }
}

// σ'(x) given x and y = σ(x).
template <typename T>
__device__ __forceinline__ T act_d1(int act, T p, T x, T y) {
    switch (act) {
        case ACT_TANH: return T(1) - y * y;
        case ACT_SIGMOID: return y * (T(1) - y);
        case ACT_SOFTPLUS: return T(1) - w_exp(-(p * y));
        case ACT_SILU: {
            T s = w_sigmoid(x);
            return s + x * s * (T(1) - s);
        }
        case ACT_RELU: return x > T(0) ? T(1) : T(0);
        case ACT_ELU: return x > T(0) ? T(1) : p * w_exp(x);
        case ACT_SELU: return x > T(0) ? T(SELU_LAMBDA) : T(SELU_LAMBDA * SELU_ALPHA) * w_exp(x);
        default: return T(1);
    }
}

// σ''(x) given x and y = σ(x).
template <typename T>
__device__ __forceinline__ T act_d2(int act, T p, T x, T y) {
    switch (act) {
        case ACT_TANH: return T(-2) * y * (T(1) - y * y);
        case ACT_SIGMOID: return y * (T(1) - y) * (T(1) - T(2) * y);
        case ACT_SOFTPLUS: {
            T s = T(1) - w_exp(-(p * y));
            return p * s * (T(1) - s);
        }
        case ACT_SILU: {
            T s = w_sigmoid(x);
            return s * (T(1) - s) * (T(2) + x * (T(1) - T(2) * s));
        }
        case ACT_ELU: return x > T(0) ? T(0) : p * w_exp(x);
        case ACT_SELU: return x > T(0) ? T(0) : T(SELU_LAMBDA * SELU_ALPHA) * w_exp(x);
        default: return T(0);
    }
}

template <typename T>
__device__ __forceinline__ T powi(T x, int n) {
    // Repeated squaring, like Rust's powi; negative powers invert at the end.
    unsigned int e = n < 0 ? (unsigned int)(-(long long)n) : (unsigned int)n;
    T r = T(1), b = x;
    while (e) {
        if (e & 1u) r *= b;
        b *= b;
        e >>= 1;
    }
    return n < 0 ? T(1) / r : r;
}

// The parameters of one unary op: its code, a scalar, an integer power and an activation.
struct UnaryArgs {
    int op;
    int act;
    int n;
    double c;
    double act_param;
};

template <typename T>
__device__ __forceinline__ T unary_eval(const UnaryArgs& a, T x) {
    T c = T(a.c), p = T(a.act_param);
    switch (a.op) {
        case U_NEG: return -x;
        case U_EXP: return w_exp(x);
        case U_LN: return w_log(x);
        case U_SQRT: return w_sqrt(x);
        case U_SQUARE: return x * x;
        case U_RECIP: return T(1) / x;
        case U_ABS: return fabs(x);
        case U_POWI: return powi(x, a.n);
        case U_ADD_SCALAR: return x + c;
        case U_MUL_SCALAR: return x * c;
        case U_ACT: return act_eval(a.act, p, x);
        default: return act_d1(a.act, p, x, act_eval(a.act, p, x));
    }
}

// f'(x) given x and y = f(x).
template <typename T>
__device__ __forceinline__ T unary_deriv(const UnaryArgs& a, T x, T y) {
    T c = T(a.c), p = T(a.act_param);
    switch (a.op) {
        case U_NEG: return T(-1);
        case U_EXP: return y;
        case U_LN: return T(1) / x;
        case U_SQRT: return T(0.5) / y;
        case U_SQUARE: return T(2) * x;
        case U_RECIP: return -y * y;
        case U_ABS: return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
        case U_POWI: return T(a.n) * powi(x, a.n - 1);
        case U_ADD_SCALAR: return T(1);
        case U_MUL_SCALAR: return c;
        case U_ACT: return act_d1(a.act, p, x, y);
        default: return act_d2(a.act, p, x, act_eval(a.act, p, x));
    }
}

// Up to this many axes in a strided view or a broadcast.
#define MAX_RANK 8

// A strided view: element (i_0..i_{r-1}) at offset + Σ i_a·strides[a].
struct View {
    int rank;
    size_t offset;
    size_t dims[MAX_RANK];
    size_t strides[MAX_RANK];
};

// The storage offset of the `linear`-th element (row-major order over dims).
__device__ __forceinline__ size_t view_offset(const View& v, size_t linear) {
    size_t off = v.offset;
    for (int a = v.rank - 1; a >= 0; --a) {
        size_t d = v.dims[a];
        off += (linear % d) * v.strides[a];
        linear /= d;
    }
    return off;
}
