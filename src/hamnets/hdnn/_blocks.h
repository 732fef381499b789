/* Block primitives of the C stacks (hamnets/hdnn/_ms1_stack.c includes this file; the build
 * hashes it with the source): a block is P columns (pixels) of a channels-first matrix, rows
 * P floats apart, held in L1; every loop here runs over whole blocks and vectorises.
 */
#ifndef HAMNETS_BLOCKS_H
#define HAMNETS_BLOCKS_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
/* Subnormal floats (below 1.2e-38) are taken and returned as zero for the duration of a call
 * (the calling thread's MXCSR flush-to-zero and denormals-are-zero bits, restored on return):
 * once the classifier is confident its gradients hold many of them, and each operation on
 * one costs about a hundred times a normal one (MNIST's images: 6047 against 8245 images/s
 * for the whole training step). Each result moves by less than 1.2e-38, as in the image
 * classifier's _FlushSubnormalGradient. */
#define FLUSH_SUBNORMALS unsigned int saved_csr_ = _mm_getcsr(); _mm_setcsr(saved_csr_ | 0x8040)
#define RESTORE_SUBNORMALS _mm_setcsr(saved_csr_)
#else
#define FLUSH_SUBNORMALS
#define RESTORE_SUBNORMALS
#endif

#define P 64      /* pixels per block */
#define V 16      /* lanes per weight-gradient sum: a block's P columns go into V lanes */
#define FLUSH 16  /* blocks summed in float (P / V * FLUSH = 64 numbers per lane) before the
                   * lanes go into double */

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif

/* tanh of P floats in place: tanh(|x|) = E / (E + 2) with E = expm1(2|x|) = 2^k expm1(r) +
 * (2^k - 1), 2|x| = k ln2 + r, |r| <= ln2 / 2, expm1(r) by its Taylor series to r^8. */
static inline __attribute__((always_inline)) void tanh_block(float *restrict a) {
    for (int p = 0; p < P; p++) {
        float x = a[p];
        float ax = x < 0 ? -x : x;
        float t = 2.0f * (ax > 9.1f ? 9.1f : ax); /* tanh(9.1) rounds to 1; NaN passes */
        float kf = t * 1.44269504f + 12582912.0f; /* 1.5 * 2^23: rounds t / ln2 */
        float k = kf - 12582912.0f;
        float r = (t - k * 0.693145752f) - k * 1.42860677e-06f; /* ln2 in two parts */
        float q = 1.0f / 40320.0f;
        q = q * r + 1.0f / 5040.0f;
        q = q * r + 1.0f / 720.0f;
        q = q * r + 1.0f / 120.0f;
        q = q * r + 1.0f / 24.0f;
        q = q * r + 1.0f / 6.0f;
        q = q * r + 0.5f;
        float em1 = r + (r * r) * q; /* expm1(r) */
        union { float f; int32_t i; } two_k, kbits = {kf};
        two_k.i = (kbits.i - 0x4B400000 + 127) << 23; /* kf's bits are 0x4B400000 + k */
        float e = two_k.f * em1 + (two_k.f - 1.0f);
        float d = e + 2.0f;
        float th = e / d;
        /* d's rounding error (Fast2Sum, exact), divided out through 1 / d = (1 - th) / 2 */
        float d_err = e < 2.0f ? (2.0f - d) + e : (e - d) + 2.0f;
        th = th - th * d_err * (0.5f - 0.5f * th);
        union { float f; uint32_t i; } res = {th}, xb = {x};
        res.i |= xb.i & 0x80000000u; /* the sign of x, -0 included */
        a[p] = res.f;
    }
}

/* a[i][p] = c[i] + sum_k sign A[i * si + k * sk] x[k][p]; rows P apart. */
static inline __attribute__((always_inline)) void affine(float *restrict a, const float *restrict x, const float *A, int si,
                          int sk, float sign, const float *c, int n) {
    for (int i = 0; i < n; i++) {
        float *ai = a + i * P;
        for (int p = 0; p < P; p++) ai[p] = c[i];
        for (int k = 0; k < n; k++) {
            float w = sign * A[i * si + k * sk];
            const float *xk = x + k * P;
            for (int p = 0; p < P; p++) ai[p] += w * xk[p];
        }
    }
}

/* Copies of n * P floats, inlined (a call of memcpy for a few hundred bytes costs as much as
 * the copy: a fifth of the stack's time when these were memcpy calls). */
static inline __attribute__((always_inline)) void copy_block(float *restrict dst,
                                                            const float *restrict src, int n) {
    for (int i = 0; i < n * P; i++) dst[i] = src[i];
}

/* Rows of a block: src rows N apart, m of P columns (the rest zero) <-> dst rows P apart. */
static inline __attribute__((always_inline)) void load_rows(float *restrict dst,
                                                           const float *restrict src, int rows,
                                                           int64_t N, int m) {
    for (int i = 0; i < rows; i++) {
        float *d = dst + i * P;
        const float *r = src + i * N;
        if (m == P) {
            for (int p = 0; p < P; p++) d[p] = r[p];
        } else {
            for (int p = 0; p < P; p++) d[p] = p < m ? r[p] : 0.0f;
        }
    }
}

static inline __attribute__((always_inline)) void store_rows(float *restrict dst,
                                                            const float *restrict src, int rows,
                                                            int64_t N, int m) {
    for (int i = 0; i < rows; i++) {
        float *d = dst + i * N;
        const float *r = src + i * P;
        if (m == P) {
            for (int p = 0; p < P; p++) d[p] = r[p];
        } else {
            for (int p = 0; p < m; p++) d[p] = r[p];
        }
    }
}

/* l[v] += sum over the block's columns p = v (mod V) of e[p] x[p] (x NULL: of e[p]) */
static inline __attribute__((always_inline)) void dot_lanes(float *restrict l,
                                                           const float *restrict e,
                                                           const float *restrict x) {
    float acc[V];
    for (int v = 0; v < V; v++) acc[v] = l[v];
    for (int c = 0; c < P; c += V)
        for (int v = 0; v < V; v++) acc[v] += x ? e[c + v] * x[c + v] : e[c + v];
    for (int v = 0; v < V; v++) l[v] = acc[v];
}

/* lanes[i][k] += e[i] . x[k]; lanes_b[i] += sum e[i] (per lane, see dot_lanes) */
static inline __attribute__((always_inline)) void outer_lanes(float *restrict lanes,
                                                             float *restrict lanes_b,
                                                             const float *restrict e,
                                                             const float *restrict x, int n) {
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < n; k++) dot_lanes(lanes + (i * n + k) * V, e + i * P, x + k * P);
        dot_lanes(lanes_b + i * V, e + i * P, NULL);
    }
}

/* acc[c][v] += lanes[c][v] (doubles, lane by lane: no chain of dependent adds), lanes = 0 */
static inline __attribute__((always_inline)) void flush_lanes(double *restrict acc,
                                                             float *restrict lanes,
                                                             int64_t count) {
    for (int64_t i = 0; i < count * V; i++) acc[i] += lanes[i];
    memset(lanes, 0, sizeof(float) * count * V);
}

#endif
