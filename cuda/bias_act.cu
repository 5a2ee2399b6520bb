// Bias + activation fused with its derivative, for plain layers and for
// layers carrying forward-mode tangents (src/backend/cpu/tangent.rs has the
// stacking: rows [primal; tangent_1; …; tangent_k], each `batch` rows).
// Bias gradients are column sums, taken by reduce.cu's kernels afterwards.
#include "common.cuh"

// y = σ(z + b[col]).
template <typename T>
__device__ void bias_act_fwd(int act, T p, const T* z, const T* b, T* y, size_t n, size_t width) {
    FOR_EACH(i, n) y[i] = act_eval(act, p, z[i] + b[i % width]);
}

// gz = g ⊙ σ'(z + b) from the saved output y.
template <typename T>
__device__ void bias_act_bwd(int act, T p, const T* z, const T* b, const T* y, const T* g, T* gz, size_t n,
                             size_t width) {
    FOR_EACH(i, n) gz[i] = g[i] * act_d1(act, p, z[i] + b[i % width], y[i]);
}

// Primal rows: σ(u), u = z + b; tangent rows: σ'(u) ⊙ ż, u from the primal row.
template <typename T>
__device__ void tangent_act_fwd(int act, T p, const T* z, const T* b, T* out, size_t n, size_t batch, size_t width) {
    size_t primal = batch * width;
    FOR_EACH(i, n) {
        size_t at = i % primal;
        T u = z[at] + b[at % width];
        T y = act_eval(act, p, u);
        out[i] = i < primal ? y : act_d1(act, p, u, y) * z[i];
    }
}

// The reverse rule (see tangent.rs): primal rows get
// g·σ'(u) + Σ_j g_j ⊙ ż_j ⊙ σ''(u); tangent rows get g_j ⊙ σ'(u).
template <typename T>
__device__ void tangent_act_bwd(int act, T p, const T* z, const T* b, const T* y, const T* g, T* gz, size_t n,
                                size_t batch, size_t width) {
    size_t primal = batch * width;
    size_t parts = n / primal;
    FOR_EACH(i, n) {
        size_t at = i % primal;
        T u = z[at] + b[at % width];
        T d1 = act_d1(act, p, u, y[at]);
        if (i < primal) {
            T d2 = act_d2(act, p, u, y[at]);
            T acc = g[i] * d1;
            for (size_t j = 1; j < parts; ++j) acc += g[j * primal + i] * z[j * primal + i] * d2;
            gz[i] = acc;
        } else {
            gz[i] = g[i] * d1;
        }
    }
}

#define INSTANTIATE(T, S)                                                                                        \
    extern "C" __global__ void bias_act_fwd_##S(int act, T p, const T* z, const T* b, T* y, size_t n,           \
                                                size_t width) {                                                 \
        bias_act_fwd(act, p, z, b, y, n, width);                                                                \
    }                                                                                                           \
    extern "C" __global__ void bias_act_bwd_##S(int act, T p, const T* z, const T* b, const T* y, const T* g,   \
                                                T* gz, size_t n, size_t width) {                                \
        bias_act_bwd(act, p, z, b, y, g, gz, n, width);                                                         \
    }                                                                                                           \
    extern "C" __global__ void tangent_act_fwd_##S(int act, T p, const T* z, const T* b, T* out, size_t n,      \
                                                   size_t batch, size_t width) {                                \
        tangent_act_fwd(act, p, z, b, out, n, batch, width);                                                    \
    }                                                                                                           \
    extern "C" __global__ void tangent_act_bwd_##S(int act, T p, const T* z, const T* b, const T* y,            \
                                                   const T* g, T* gz, size_t n, size_t batch, size_t width) {   \
        tangent_act_bwd(act, p, z, b, y, g, gz, n, batch, width);                                               \
    }

INSTANTIATE(float, f32)
INSTANTIATE(double, f64)
