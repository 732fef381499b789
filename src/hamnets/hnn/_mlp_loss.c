/* The derivative-regression loss of a tanh MLP and its parameter gradients in one pass,
 * chunk by chunk over the batch (hamnets/hnn/_fused_loss.py loads this file).
 *
 * Two networks, with a_0 = x (a chunk of c rows), z_l = W_l a_{l-1} + b_l, a_l = tanh(z_l),
 * s_l = 1 - a_l^2 (l = 1 .. L):
 *   energy (hamiltonian = 1): H = w . a_L; the field f = J grad_x H, grad_x H written out as
 *       d_L = w * s_L, e_{l-1} = W_l^T d_l, d_{l-1} = e_{l-1} * s_{l-1}, g = W_1^T d_1;
 *   plain MLP (hamiltonian = 0): f = W_o a_L + b_o.
 * The loss is sum over rows and components of (f - y)^2 (returned in double; the caller
 * divides), and the gradients of scale * that sum are added into the gradient buffers.
 *
 * Everything a chunk needs stays in L2: its activations, the e_l and d_l, the reverse pass's
 * buffers, (width, c) floats each, feature-major (rows c floats apart). The wide products
 * go to the BLAS sgemm the caller passes (torch's MKL); the skinny ones with the input and
 * output layers (a width of 2 to a few) and every elementwise step are loops here. The
 * weight gradients add up chunk after chunk (sgemm with beta = 1).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_blocks.h"

typedef void (*sgemm_t)(const char *, const char *, const int *, const int *, const int *,
                        const float *, const float *, const int *, const float *, const int *,
                        const float *, float *, const int *);

/* C (M x N, row-major, ldc) = op(A) op(B) + beta C, with op(A) (M x K) = A ('N', A stored
 * M x K) or A^T ('T', A stored K x M), likewise B: the column-major sgemm on the transposes. */
static void mm(sgemm_t gemm, char ta, char tb, int M, int N, int K, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc) {
    const float one = 1.0f;
    gemm(&tb, &ta, &N, &M, &K, &one, B, &ldb, A, &lda, &beta, C, &ldc);
}

/* tanh of n floats in place (the C stacks' tanh, in blocks of P) */
CLONES static void tanh_rows(float *a, int64_t n) {
    int64_t p0 = 0;
    for (; p0 + P <= n; p0 += P) tanh_block(a + p0);
    if (p0 < n) {
        float buf[P];
        int m = (int)(n - p0);
        memset(buf, 0, sizeof buf);
        memcpy(buf, a + p0, sizeof(float) * m);
        tanh_block(buf);
        memcpy(a + p0, buf, sizeof(float) * m);
    }
}

/* sum_b a[b] * b[b] and sum_b a[b] in 16 lanes (a serial float sum does not vectorise) */
static inline __attribute__((always_inline)) float dot(const float *restrict a,
                                                       const float *restrict b, int n) {
    float lane[16] = {0};
    int k = 0;
    for (; k + 16 <= n; k += 16)
        for (int v = 0; v < 16; v++) lane[v] += a[k + v] * b[k + v];
    float s = 0.0f;
    for (; k < n; k++) s += a[k] * b[k];
    for (int v = 0; v < 16; v++) s += lane[v];
    return s;
}

static inline __attribute__((always_inline)) float total(const float *restrict a, int n) {
    float lane[16] = {0};
    int k = 0;
    for (; k + 16 <= n; k += 16)
        for (int v = 0; v < 16; v++) lane[v] += a[k + v];
    float s = 0.0f;
    for (; k < n; k++) s += a[k];
    for (int v = 0; v < 16; v++) s += lane[v];
    return s;
}

typedef struct {
    int L;                 /* hidden layers */
    const int *width;      /* L + 1 widths: width[0] = input dim, width[l] of layer l */
    const float *const *W; /* W[l - 1]: (width[l], width[l - 1]) row-major */
    float **WT;            /* WT[l - 1] = W[l - 1]^T contiguous, l >= 2 (a plain product
                            * reads it faster than a transposed one) */
    const float *const *b; /* b[l - 1]: (width[l],) */
    const float *Wo;       /* energy: w (width[L],); MLP: W_o (dout, width[L]) */
    const float *bo;       /* MLP: b_o (dout,); energy: unused */
    const float *J;        /* energy: J (d, d) row-major, f = J g; MLP: unused */
    int dout;              /* components of f (= d for both) */
    int hamiltonian;
    float **gW, **gb;      /* gradient buffers, added into */
    float *gWo, *gbo;
} net_t;

/* The chunk's rows [r0, r0 + c) of x and y (B, d) / (B, dout) row-major. */
CLONES static double chunk(sgemm_t gemm, const net_t *n, const float *x, const float *y,
                           int64_t r0, int c, float scale, float *ws) {
    const int L = n->L, d = n->width[0], dout = n->dout;
    int nmax = 0;
    for (int l = 1; l <= L; l++) nmax = n->width[l] > nmax ? n->width[l] : nmax;
    const int64_t big = (int64_t)nmax * c;
    float *xt = ws;                    /* (d, c) */
    float *f = xt + (int64_t)d * c;    /* (dout, c); its gradient in place */
    float *g = f + (int64_t)dout * c;  /* (d, c): grad_x H, then its gradient */
    float *A = g + (int64_t)d * c;     /* L blocks of big: a_l */
    float *E = A + L * big;            /* e_l, l < L */
    float *D = E + L * big;            /* d_l */
    float *U = D + L * big;            /* -2 a_l sbar_l, l < L */
    float *T0 = U + L * big, *T1 = T0 + big;
#define BLK(M, l) ((M) + (int64_t)((l) - 1) * big)
    for (int b = 0; b < c; b++)
        for (int i = 0; i < d; i++) xt[(int64_t)i * c + b] = x[(r0 + b) * d + i];

    /* forward: a_1 .. a_L */
    {
        const int n1 = n->width[1];
        float *a = BLK(A, 1);
        const float *W1 = n->W[0], *b1 = n->b[0];
        for (int j = 0; j < n1; j++) {
            float *row = a + (int64_t)j * c;
            for (int b = 0; b < c; b++) row[b] = b1[j];
            for (int i = 0; i < d; i++) {
                const float wji = W1[j * d + i], *xi = xt + (int64_t)i * c;
                for (int b = 0; b < c; b++) row[b] += wji * xi[b];
            }
        }
        tanh_rows(a, (int64_t)n1 * c);
    }
    for (int l = 2; l <= L; l++) {
        const int nl = n->width[l], np = n->width[l - 1];
        float *a = BLK(A, l);
        const float *bl = n->b[l - 1];
        for (int j = 0; j < nl; j++)
            for (int b = 0; b < c; b++) a[(int64_t)j * c + b] = bl[j];
        mm(gemm, 'N', 'N', nl, c, np, n->W[l - 1], np, BLK(A, l - 1), c, 1.0f, a, c);
        tanh_rows(a, (int64_t)nl * c);
    }

    const int nL = n->width[L];
    const float *aL = BLK(A, L);
    if (n->hamiltonian) { /* g = grad_x H, f = J g */
        float *dL = BLK(D, L);
        for (int j = 0; j < nL; j++) {
            const float wj = n->Wo[j];
            for (int b = 0; b < c; b++) {
                const float a = aL[(int64_t)j * c + b];
                dL[(int64_t)j * c + b] = wj * (1.0f - a * a);
            }
        }
        for (int l = L; l >= 2; l--) {
            const int nl = n->width[l], np = n->width[l - 1];
            float *e = BLK(E, l - 1), *dp = BLK(D, l - 1);
            const float *ap = BLK(A, l - 1);
            mm(gemm, 'N', 'N', np, c, nl, n->WT[l - 1], nl, BLK(D, l), c, 0.0f, e, c);
            for (int64_t k = 0; k < (int64_t)np * c; k++) dp[k] = e[k] * (1.0f - ap[k] * ap[k]);
        }
        memset(g, 0, sizeof(float) * d * c);
        const int n1 = n->width[1];
        const float *d1 = BLK(D, 1), *W1 = n->W[0];
        for (int j = 0; j < n1; j++)
            for (int i = 0; i < d; i++) {
                const float wji = W1[j * d + i];
                float *gi = g + (int64_t)i * c;
                const float *dj = d1 + (int64_t)j * c;
                for (int b = 0; b < c; b++) gi[b] += wji * dj[b];
            }
        for (int i = 0; i < dout; i++) {
            float *fi = f + (int64_t)i * c;
            memset(fi, 0, sizeof(float) * c);
            for (int k = 0; k < d; k++) {
                const float jik = n->J[i * d + k];
                if (jik != 0.0f)
                    for (int b = 0; b < c; b++) fi[b] += jik * g[(int64_t)k * c + b];
            }
        }
    } else { /* f = W_o a_L + b_o */
        for (int i = 0; i < dout; i++) {
            float *fi = f + (int64_t)i * c;
            for (int b = 0; b < c; b++) fi[b] = n->bo[i];
            for (int j = 0; j < nL; j++) {
                const float w = n->Wo[i * nL + j];
                const float *aj = aL + (int64_t)j * c;
                for (int b = 0; b < c; b++) fi[b] += w * aj[b];
            }
        }
    }

    /* the loss and its gradient fbar = scale (f - y), in f */
    double loss = 0.0;
    for (int i = 0; i < dout; i++) {
        float *fi = f + (int64_t)i * c;
        float part = 0.0f;
        for (int b = 0; b < c; b++) {
            const float r = fi[b] - y[(r0 + b) * dout + i];
            part += r * r;
            fi[b] = scale * r;
        }
        loss += part;
    }

    float *zbar = T0; /* dLoss/dz_L, filled below */
    if (n->hamiltonian) {
        /* gbar = J^T fbar, in g */
        for (int k = 0; k < d; k++) {
            float *gk = g + (int64_t)k * c;
            memset(gk, 0, sizeof(float) * c);
            for (int i = 0; i < dout; i++) {
                const float jik = n->J[i * d + k];
                if (jik != 0.0f)
                    for (int b = 0; b < c; b++) gk[b] += jik * f[(int64_t)i * c + b];
            }
        }
        /* g = W_1^T d_1: dW_1 += d_1 gbar^T, dbar_1 = W_1 gbar */
        const int n1 = n->width[1];
        const float *d1 = BLK(D, 1), *W1 = n->W[0];
        float *dbar = T1;
        for (int j = 0; j < n1; j++) {
            const float *dj = d1 + (int64_t)j * c;
            float *row = dbar + (int64_t)j * c;
            for (int b = 0; b < c; b++) row[b] = 0.0f;
            for (int i = 0; i < d; i++) {
                const float *gi = g + (int64_t)i * c;
                n->gW[0][j * d + i] += dot(dj, gi, c);
                const float wji = W1[j * d + i];
                for (int b = 0; b < c; b++) row[b] += wji * gi[b];
            }
        }
        /* up the gradient chain: ebar_l = dbar_l s_l; the path through s_l gives
         * u_l = -2 a_l dbar_l e_l; d_{l+1}'s: dbar_{l+1} = W_{l+1} ebar_l, dW_{l+1} += d_{l+1} ebar_l^T */
        for (int l = 1; l < L; l++) {
            const int nl = n->width[l], nn = n->width[l + 1];
            const float *a = BLK(A, l), *e = BLK(E, l);
            float *u = BLK(U, l);
            for (int64_t k = 0; k < (int64_t)nl * c; k++) {
                const float s = 1.0f - a[k] * a[k];
                u[k] = -2.0f * a[k] * (dbar[k] * e[k]);
                dbar[k] *= s; /* ebar_l */
            }
            float *next = dbar == T1 ? T0 : T1;
            mm(gemm, 'N', 'N', nn, c, nl, n->W[l], nl, dbar, c, 0.0f, next, c);
            mm(gemm, 'N', 'T', nn, nl, c, BLK(D, l + 1), c, dbar, c, 1.0f, n->gW[l], nl);
            dbar = next;
        }
        /* d_L = w s_L: dw += sum_b dbar_L s_L; zbar_L = -2 a_L (dbar_L w) s_L */
        zbar = dbar;
        for (int j = 0; j < nL; j++) {
            const float wj = n->Wo[j];
            float *row = dbar + (int64_t)j * c;
            const float *aj = aL + (int64_t)j * c;
            float *sj = T0 == dbar ? T1 : T0; /* s_L's row, scratch */
            for (int b = 0; b < c; b++) sj[b] = 1.0f - aj[b] * aj[b];
            n->gWo[j] += dot(row, sj, c);
            for (int b = 0; b < c; b++) row[b] = -2.0f * aj[b] * (row[b] * wj) * sj[b];
        }
    } else {
        /* f = W_o a_L + b_o: dW_o += fbar a_L^T, db_o += sum fbar, zbar_L = (W_o^T fbar) s_L */
        for (int i = 0; i < dout; i++) {
            const float *fi = f + (int64_t)i * c;
            n->gbo[i] += total(fi, c);
            for (int j = 0; j < nL; j++) n->gWo[i * nL + j] += dot(fi, aL + (int64_t)j * c, c);
        }
        for (int j = 0; j < nL; j++) {
            float *row = zbar + (int64_t)j * c;
            const float *aj = aL + (int64_t)j * c;
            for (int b = 0; b < c; b++) row[b] = 0.0f;
            for (int i = 0; i < dout; i++) {
                const float w = n->Wo[i * nL + j], *fi = f + (int64_t)i * c;
                for (int b = 0; b < c; b++) row[b] += w * fi[b];
            }
            for (int b = 0; b < c; b++) row[b] *= 1.0f - aj[b] * aj[b];
        }
    }

    /* down the forward pass: db_l += sum zbar_l, dW_l += zbar_l a_{l-1}^T,
     * zbar_{l-1} = (W_l^T zbar_l + u_{l-1}) s_{l-1} */
    for (int l = L; l >= 1; l--) {
        const int nl = n->width[l];
        float *gbl = n->gb[l - 1];
        for (int j = 0; j < nl; j++) gbl[j] += total(zbar + (int64_t)j * c, c);
        if (l == 1) break;
        const int np = n->width[l - 1];
        const float *ap = BLK(A, l - 1);
        mm(gemm, 'N', 'T', nl, np, c, zbar, c, ap, c, 1.0f, n->gW[l - 1], np);
        float *below = zbar == T0 ? T1 : T0;
        mm(gemm, 'N', 'N', np, c, nl, n->WT[l - 1], nl, zbar, c, 0.0f, below, c);
        const float *u = BLK(U, l - 1);
        for (int64_t k = 0; k < (int64_t)np * c; k++) {
            const float s = 1.0f - ap[k] * ap[k];
            below[k] = (n->hamiltonian ? below[k] + u[k] : below[k]) * s;
        }
        zbar = below;
    }
    /* the first layer: dW_1 += zbar_1 x */
    {
        const int n1 = n->width[1];
        for (int j = 0; j < n1; j++) {
            const float *row = zbar + (int64_t)j * c;
            for (int i = 0; i < d; i++) n->gW[0][j * d + i] += dot(row, xt + (int64_t)i * c, c);
        }
    }
#undef BLK
    return loss;
}

/* t (cols x rows) = a^T for a (rows x cols), row-major, in 16 x 16 tiles (a plain double loop
 * writes with a stride of `rows` floats and costs several times more) */
static void transpose(const float *restrict a, float *restrict t, int rows, int cols) {
    for (int j0 = 0; j0 < rows; j0 += 16)
        for (int i0 = 0; i0 < cols; i0 += 16) {
            const int j1 = j0 + 16 < rows ? j0 + 16 : rows, i1 = i0 + 16 < cols ? i0 + 16 : cols;
            for (int i = i0; i < i1; i++)
                for (int j = j0; j < j1; j++) t[(int64_t)i * rows + j] = a[(int64_t)j * cols + i];
        }
}

/* The whole batch in chunks of `chunk_rows`; returns the sum of squared errors, or -1 when
 * the workspace cannot be allocated. The gradient buffers must be zeroed by the caller. */
double mlp_loss(sgemm_t gemm, int L, const int *width, const float *const *W,
                const float *const *b, const float *Wo, const float *bo, const float *J,
                int dout, int hamiltonian, float **gW, float **gb, float *gWo, float *gbo,
                const float *x, const float *y, int64_t rows, int chunk_rows, float scale) {
    int nmax = 0;
    for (int l = 1; l <= L; l++) nmax = width[l] > nmax ? width[l] : nmax;
    const int c = chunk_rows;
    int64_t floats = (int64_t)(2 * width[0] + dout) * c + (int64_t)(4 * L + 2) * nmax * c;
    const int64_t chunk_floats = floats;
    for (int l = 2; l <= L; l++) floats += (int64_t)width[l] * width[l - 1];
    float *ws = aligned_alloc(64, ((sizeof(float) * floats + 63) / 64) * 64);
    float **WT = calloc(L, sizeof(float *));
    if (ws == NULL || WT == NULL) {
        free(ws);
        free(WT);
        return -1.0;
    }
    float *t = ws + chunk_floats;
    for (int l = 2; l <= L; l++) {
        const int nl = width[l], np = width[l - 1];
        WT[l - 1] = t;
        transpose(W[l - 1], t, nl, np);
        t += (int64_t)nl * np;
    }
    net_t n = {L, width, W, WT, b, Wo, bo, J, dout, hamiltonian, gW, gb, gWo, gbo};
    FLUSH_SUBNORMALS;
    double loss = 0.0;
    for (int64_t r0 = 0; r0 < rows; r0 += c) {
        const int m = (int)(rows - r0 < c ? rows - r0 : c);
        loss += chunk(gemm, &n, x, y, r0, m, scale, ws);
    }
    RESTORE_SUBNORMALS;
    free(ws);
    free(WT);
    return loss;
}
