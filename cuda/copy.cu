// Data movement: strided gather/scatter (slicing, broadcasting, transposes,
// concatenation) and row gathers with their deterministic adjoint.
#include "common.cuh"

// out[i] = src[view(i)]: a strided view copied into contiguous memory.
template <typename T>
__device__ void copy_strided(View v, const T* src, T* out, size_t n) {
    FOR_EACH(i, n) out[i] = src[view_offset(v, i)];
}

// dst[view(i)] = src[i]: contiguous data written into a strided view.
template <typename T>
__device__ void copy_into(View v, const T* src, T* dst, size_t n) {
    FOR_EACH(i, n) dst[view_offset(v, i)] = src[i];
}

// out[r] = src[idx[r]] for rows of `row_len`.
template <typename T>
__device__ void gather_rows(const T* src, const int64_t* idx, T* out, size_t rows, size_t row_len) {
    FOR_EACH(i, rows * row_len) {
        size_t r = i / row_len, c = i % row_len;
        out[i] = src[(size_t)idx[r] * row_len + c];
    }
}

// The adjoint of gather_rows without atomics: output row r sums the source
// rows listed in sources[starts[r]..starts[r+1]] (in order), so the result
// is the same on every run.
template <typename T>
__device__ void scatter_add_rows(const T* src, const int64_t* starts, const int64_t* sources, T* out, size_t n_rows,
                                 size_t row_len) {
    FOR_EACH(i, n_rows * row_len) {
        size_t r = i / row_len, c = i % row_len;
        T acc = T(0);
        for (int64_t j = starts[r]; j < starts[r + 1]; ++j) acc += src[(size_t)sources[j] * row_len + c];
        out[i] = acc;
    }
}

#define INSTANTIATE(T, S)                                                                                        \
    extern "C" __global__ void copy_strided_fwd_##S(View v, const T* src, T* out, size_t n) {                   \
        copy_strided(v, src, out, n);                                                                           \
    }                                                                                                           \
    extern "C" __global__ void copy_into_fwd_##S(View v, const T* src, T* dst, size_t n) {                      \
        copy_into(v, src, dst, n);                                                                              \
    }                                                                                                           \
    extern "C" __global__ void gather_rows_fwd_##S(const T* src, const int64_t* idx, T* out, size_t rows,       \
                                                   size_t row_len) {                                            \
        gather_rows(src, idx, out, rows, row_len);                                                              \
    }                                                                                                           \
    extern "C" __global__ void gather_rows_bwd_##S(const T* src, const int64_t* starts, const int64_t* sources, \
                                                   T* out, size_t n_rows, size_t row_len) {                     \
        scatter_add_rows(src, starts, sources, out, n_rows, row_len);                                           \
    }

INSTANTIATE(float, f32)
INSTANTIATE(double, f64)
