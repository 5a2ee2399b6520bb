// GEMM: C = op(A)·op(B) (+ bias per column), row-major, batched by
// blockIdx.z with batch strides (0 reuses one matrix). Transposes are read
// in place, never materialized. Two paths:
//  - SIMT, shared-memory tiled with a register-blocked microtile and a
//    double-buffered k loop, at three tile sizes (the host picks by size);
//  - TF32 tensor cores (wmma m16n16k8, f32 accumulate), opt-in for f32.
#include "common.cuh"
#include <mma.h>

// Element (r, c) of op(X) for X stored row-major as rows×cols (trans = false)
// or cols×rows (trans = true).
template <typename T, bool TRANS>
__device__ __forceinline__ T load_op(const T* x, int r, int c, int rows, int cols, int ld) {
    if (r >= rows || c >= cols) return T(0);
    return TRANS ? x[(size_t)c * ld + r] : x[(size_t)r * ld + c];
}

template <typename T, int BM, int BN, int BK, int TM, int TN, bool TA, bool TB>
__device__ void gemm_simt(const T* __restrict__ A, const T* __restrict__ B, const T* __restrict__ bias,
                          T* __restrict__ C, int m, int n, int k, size_t sa, size_t sb, T (*As)[BK][BM],
                          T (*Bs)[BK][BN]) {
    constexpr int NT = (BM / TM) * (BN / TN);
    constexpr int LA = BM * BK / NT;
    constexpr int LB = BK * BN / NT;

    A += blockIdx.z * sa;
    B += blockIdx.z * sb;
    C += (size_t)blockIdx.z * m * n;
    const int bm = blockIdx.y * BM, bn = blockIdx.x * BN;
    const int tid = threadIdx.x;
    const int tx = tid % (BN / TN), ty = tid / (BN / TN);
    const int lda = TA ? m : k, ldb = TB ? k : n;

    T ra[LA], rb[LB];
    // Tile element e of A's tile is (row, kk); the mapping keeps consecutive
    // threads on consecutive addresses of the stored matrix.
    auto fetch = [&](int k0) {
#pragma unroll
        for (int i = 0; i < LA; ++i) {
            int e = tid + i * NT;
            int r = TA ? e % BM : e / BK, kk = TA ? e / BM : e % BK;
            ra[i] = load_op<T, TA>(A, bm + r, k0 + kk, m, k, lda);
        }
#pragma unroll
        for (int i = 0; i < LB; ++i) {
            int e = tid + i * NT;
            int kk = TB ? e % BK : e / BN, c = TB ? e / BK : e % BN;
            // op(B) is k×n: element (kk, c).
            rb[i] = load_op<T, TB>(B, k0 + kk, bn + c, k, n, ldb);
        }
    };
    auto stash = [&](int buf) {
#pragma unroll
        for (int i = 0; i < LA; ++i) {
            int e = tid + i * NT;
            int r = TA ? e % BM : e / BK, kk = TA ? e / BM : e % BK;
            As[buf][kk][r] = ra[i];
        }
#pragma unroll
        for (int i = 0; i < LB; ++i) {
            int e = tid + i * NT;
            int kk = TB ? e % BK : e / BN, c = TB ? e / BK : e % BN;
            Bs[buf][kk][c] = rb[i];
        }
    };

    T acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = T(0);

    fetch(0);
    stash(0);
    __syncthreads();
    int buf = 0;
    for (int k0 = 0; k0 < k; k0 += BK) {
        const bool more = k0 + BK < k;
        if (more) fetch(k0 + BK);
#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
            T a[TM], b[TN];
#pragma unroll
            for (int i = 0; i < TM; ++i) a[i] = As[buf][kk][ty * TM + i];
#pragma unroll
            for (int j = 0; j < TN; ++j) b[j] = Bs[buf][kk][tx * TN + j];
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < TN; ++j) acc[i][j] += a[i] * b[j];
        }
        if (more) {
            stash(buf ^ 1);
            __syncthreads();
            buf ^= 1;
        }
    }

#pragma unroll
    for (int i = 0; i < TM; ++i) {
        int r = bm + ty * TM + i;
        if (r >= m) continue;
#pragma unroll
        for (int j = 0; j < TN; ++j) {
            int c = bn + tx * TN + j;
            if (c < n) C[(size_t)r * n + c] = acc[i][j] + (bias ? bias[c] : T(0));
        }
    }
}

// Dispatch on the transposes at run time (uniform across the grid); the
// shared tiles are declared once here so the four variants share them.
#define GEMM_SIMT(NAME, T, S, BM, BN, BK, TM, TN)                                                                 \
    extern "C" __global__ void __launch_bounds__((BM / TM) * (BN / TN))                                           \
        NAME##_fwd_##S(const T* A, const T* B, const T* bias, T* C, int m, int n, int k, size_t sa, size_t sb,   \
                       int ta, int tb) {                                                                          \
        __shared__ __align__(16) T As[2][BK][BM];                                                                 \
        __shared__ __align__(16) T Bs[2][BK][BN];                                                                 \
        if (!ta && !tb) gemm_simt<T, BM, BN, BK, TM, TN, false, false>(A, B, bias, C, m, n, k, sa, sb, As, Bs);   \
        else if (!ta && tb) gemm_simt<T, BM, BN, BK, TM, TN, false, true>(A, B, bias, C, m, n, k, sa, sb, As, Bs);\
        else if (ta && !tb) gemm_simt<T, BM, BN, BK, TM, TN, true, false>(A, B, bias, C, m, n, k, sa, sb, As, Bs);\
        else gemm_simt<T, BM, BN, BK, TM, TN, true, true>(A, B, bias, C, m, n, k, sa, sb, As, Bs);                \
    }

GEMM_SIMT(gemm128, float, f32, 128, 128, 8, 8, 8)
GEMM_SIMT(gemm64, float, f32, 64, 64, 8, 4, 4)
GEMM_SIMT(gemm32, float, f32, 32, 32, 8, 2, 2)
GEMM_SIMT(gemm128, double, f64, 128, 128, 8, 8, 8)
GEMM_SIMT(gemm64, double, f64, 64, 64, 8, 4, 4)
GEMM_SIMT(gemm32, double, f64, 32, 32, 8, 2, 2)

// ---- TF32 tensor cores --------------------------------------------------
// Block tile 128×128×16, 8 warps as 2×4, each warp 64×32 = 4×2 fragments of
// 16×16. Operands are rounded to TF32 when staged in shared memory.
namespace wmma = nvcuda::wmma;

#define TC_BM 128
#define TC_BN 128
#define TC_BK 16
#define TC_PAD 8

template <bool TA, bool TB>
__device__ void gemm_tf32(const float* __restrict__ A, const float* __restrict__ B, const float* __restrict__ bias,
                          float* __restrict__ C, int m, int n, int k, size_t sa, size_t sb,
                          float (*As)[TC_BK + TC_PAD], float (*Bs)[TC_BN + TC_PAD], float (*Cs)[16][16]) {

    A += blockIdx.z * sa;
    B += blockIdx.z * sb;
    C += (size_t)blockIdx.z * m * n;
    const int bm = blockIdx.y * TC_BM, bn = blockIdx.x * TC_BN;
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int wm = warp / 4, wn = warp % 4;  // warp tile origin: (wm·64, wn·32)
    const int lda = TA ? m : k, ldb = TB ? k : n;

    wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[4][2];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

    for (int k0 = 0; k0 < k; k0 += TC_BK) {
        // 128×16 A elements and 16×128 B elements over 256 threads: 8 each.
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            int e = tid + i * 256;
            int r = TA ? e % TC_BM : e / TC_BK, kk = TA ? e / TC_BM : e % TC_BK;
            As[r][kk] = wmma::__float_to_tf32(load_op<float, TA>(A, bm + r, k0 + kk, m, k, lda));
            int kb = TB ? e % TC_BK : e / TC_BN, c = TB ? e / TC_BK : e % TC_BN;
            Bs[kb][c] = wmma::__float_to_tf32(load_op<float, TB>(B, k0 + kb, bn + c, k, n, ldb));
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < TC_BK; kk += 8) {
            wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fa[4];
            wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fb[2];
#pragma unroll
            for (int i = 0; i < 4; ++i) wmma::load_matrix_sync(fa[i], &As[wm * 64 + i * 16][kk], TC_BK + TC_PAD);
#pragma unroll
            for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(fb[j], &Bs[kk][wn * 32 + j * 16], TC_BN + TC_PAD);
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
        }
        __syncthreads();
    }

    // Each fragment goes through the warp's 16×16 staging tile so that edges
    // and the bias are handled per element.
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) {
            wmma::store_matrix_sync(&Cs[warp][0][0], acc[i][j], 16, wmma::mem_row_major);
            __syncwarp();
            int r0 = bm + wm * 64 + i * 16, c0 = bn + wn * 32 + j * 16;
            for (int e = lane; e < 256; e += 32) {
                int r = r0 + e / 16, c = c0 + e % 16;
                if (r < m && c < n) C[(size_t)r * n + c] = Cs[warp][e / 16][e % 16] + (bias ? bias[c] : 0.0f);
            }
            __syncwarp();
        }
}

extern "C" __global__ void __launch_bounds__(256)
    gemm_tf32_fwd_f32(const float* A, const float* B, const float* bias, float* C, int m, int n, int k, size_t sa,
                      size_t sb, int ta, int tb) {
    __shared__ __align__(32) float As[TC_BM][TC_BK + TC_PAD];
    __shared__ __align__(32) float Bs[TC_BK][TC_BN + TC_PAD];
    __shared__ __align__(32) float Cs[8][16][16];
    if (!ta && !tb) gemm_tf32<false, false>(A, B, bias, C, m, n, k, sa, sb, As, Bs, Cs);
    else if (!ta && tb) gemm_tf32<false, true>(A, B, bias, C, m, n, k, sa, sb, As, Bs, Cs);
    else if (ta && !tb) gemm_tf32<true, false>(A, B, bias, C, m, n, k, sa, sb, As, Bs, Cs);
    else gemm_tf32<true, true>(A, B, bias, C, m, n, k, sa, sb, As, Bs, Cs);
}
