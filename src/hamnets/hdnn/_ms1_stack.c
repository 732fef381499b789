/* The MS1 stack on channels-first states, all L layers per block of pixels, forward and
 * backward: the fused node's C path (hamnets/hdnn/_cstack.py builds and loads this file).
 *
 * States are float32 rows of a channels-first (nf, N) matrix, nf = 2n: rows 0..n-1 are u,
 * rows n..2n-1 are z. Layer j, with K_j (n, n) and b_j = [b_u; b_z] (nf):
 *     s_z = tanh(K_j u + b_z),      z' = z + h s_z
 *     s_u = tanh(-K_j^T z' + b_u),  u' = u + h s_u
 *
 * Between forward and backward only the activations are kept (nf numbers per pixel and
 * layer), block after block in one contiguous buffer, not the states: the backward replays a
 * block's states from its input and those activations (one multiply-add per number, the
 * same code as the forward's: the same bits) into a buffer that stays in L1/L2, then walks
 * the layers in reverse. Without that buffer (acts NULL) it runs the block's forward again.
 * The torch path instead writes states and activations as (nf, N) rows, one pass over
 * memory per row and layer; here every write is sequential.
 *
 * tanh: expm1(2|x|) / (expm1(2|x|) + 2) in float, expm1 from a polynomial and a power of 2
 * (tanh_block in _blocks.h): within 2 ulp of the exact value (1.93 at most over every 7th
 * float in [0, 10]; numpy's float32 tanh, the torch path's, is within 1.4), as
 * tests/test_hdnn_cstack.py checks against float64; small arguments keep their relative
 * accuracy, NaN stays NaN. An optional 3x3 convolution in front (conv_t: the image
 * classifier's first stage) is computed block by block from its input's nine taps.
 *
 * Weight gradients are summed in V lanes (a vector register's worth, kept in a register for
 * a block's columns) in float over at most FLUSH blocks, then into double lanes, added up at
 * the end: the sum over N pixels is as accurate as a blocked product's.
 */
#include "_blocks.h"

/* dst += h src, n P numbers: the state updates of layer and replay (the same code, so that
 * the backward's replayed states are the forward's to the bit). */
static inline __attribute__((always_inline)) void add_scaled(float *restrict dst,
                                                            const float *restrict src, float h,
                                                            int n) {
    for (int i = 0; i < n * P; i++) dst[i] += h * src[i];
}

/* One layer on a block: st = [u; z] (nf rows) updated in place; act = [s_z; s_u]. */
static inline __attribute__((always_inline)) void layer(float *restrict st, float *restrict act,
                                                       const float *Kj, const float *bj,
                                                       float h, int n) {
    float *u = st, *z = st + n * P, *sz = act, *su = act + n * P;
    affine(sz, u, Kj, n, 1, 1.0f, bj + n, n); /* K u + b_z */
    for (int i = 0; i < n; i++) tanh_block(sz + i * P);
    add_scaled(z, sz, h, n);
    affine(su, z, Kj, 1, n, -1.0f, bj, n); /* -K^T z' + b_u */
    for (int i = 0; i < n; i++) tanh_block(su + i * P);
    add_scaled(u, su, h, n);
}

/* An optional 3x3 convolution (stride 1, zero padding 1) in front of the stack, as the image
 * classifier's: the stack's input y = conv(x) is computed block by block from the input
 * planes x (c_in, H, W, B) (columns (h, w, b), b fastest, as y's) and never stored; the
 * backward adds the convolution's weight and bias gradients (not x's). */
typedef struct {
    const float *x; /* x's column `start` (row ci at x + ci * stride); zeros on either side
                     * of the data for at least (W + 1) B + P columns */
    int64_t stride;
    const float *w; /* (nf, 9 c_in): conv.weight (nf, c_in, 3, 3) */
    const float *b; /* (nf) */
    float *gw, *gb; /* the backward's: (nf, 9 c_in), (nf) */
    int32_t c_in, H, W, B;
    int64_t start; /* the absolute column of this call's first column */
} conv_t;

/* T[(ci 9 + 3 dh + dw)][i] = x[ci][h_i + dh - 1][w_i + dw - 1][b_i] (0 outside the image) for
 * the block's columns i (0 past m); p0: the block's first column, relative to cv->start. */
static inline __attribute__((always_inline)) void conv_taps(const conv_t *cv, int64_t p0, int m,
                                                           float *restrict T) {
    int hh[P], ww[P];
    int64_t q = (cv->start + p0) / cv->B;
    int bc = (int)((cv->start + p0) % cv->B), hc = (int)(q / cv->W), wc = (int)(q % cv->W);
    for (int i = 0; i < P; i++) {
        hh[i] = i < m ? hc : -4, ww[i] = i < m ? wc : -4; /* -4: every tap outside */
        if (++bc == cv->B) {
            bc = 0;
            if (++wc == cv->W) wc = 0, hc++;
        }
    }
    for (int dh = 0; dh < 3; dh++)
        for (int dw = 0; dw < 3; dw++) {
            int64_t off = ((int64_t)(dh - 1) * cv->W + (dw - 1)) * cv->B;
            for (int ci = 0; ci < cv->c_in; ci++) {
                const float *xr = cv->x + ci * cv->stride + p0 + off;
                float *t = T + (ci * 9 + dh * 3 + dw) * P;
                for (int i = 0; i < P; i++) {
                    unsigned hv = (unsigned)(hh[i] + dh - 1), wv = (unsigned)(ww[i] + dw - 1);
                    float v = xr[i]; /* in the zero margin where outside the data */
                    t[i] = hv < (unsigned)cv->H && wv < (unsigned)cv->W ? v : 0.0f;
                }
            }
        }
}

/* st[c][i] = b[c] + sum_t w[c][t] T[t][i]: the block's stack input from its taps. */
static inline __attribute__((always_inline)) void conv_block(const conv_t *cv,
                                                            const float *restrict T,
                                                            float *restrict st, int nf) {
    int taps = 9 * cv->c_in;
    for (int c = 0; c < nf; c++) {
        float *sc = st + c * P;
        for (int i = 0; i < P; i++) sc[i] = cv->b[c];
        for (int t = 0; t < taps; t++) {
            float w = cv->w[c * taps + t];
            const float *tt = T + t * P;
            for (int i = 0; i < P; i++) sc[i] += w * tt[i];
        }
    }
}

/* The stack's input for the block at p0 (m columns) into st: y's rows, or the convolution
 * of cv's input (its taps into T). */
static inline __attribute__((always_inline)) void block_input(float *restrict st,
                                                             float *restrict T, const float *y,
                                                             const conv_t *cv, int64_t p0, int m,
                                                             int nf, int64_t N) {
    if (cv) {
        conv_taps(cv, p0, m, T);
        conv_block(cv, T, st, nf);
    } else {
        load_rows(st, y + p0, nf, N, m);
    }
}

/* Forward of layers 0..L-1 on the first `cols` columns of y (nf rows, N apart), or of the
 * convolution cv of its input where cv is not NULL (y then unused), into out (the same
 * layout). K (L, n, n), b (L, nf). With acts (not NULL) every layer's activations
 * [s_z; s_u] go there, block after block: (ceil(cols / P), L, nf, P), for the backward. A
 * range of columns is a call with the pointers moved to its first column (and block).
 * Returns 0, or -1 where memory ran out. */
CLONES
int ms1_forward(const float *y, float *out, float *acts, const float *K, const float *b,
                float h, int n, int L, int64_t N, int64_t cols, const conv_t *cv) {
    int nf = 2 * n;
    float *buf = malloc(sizeof(float) * (2 * nf * P + (cv ? 9 * cv->c_in * P : 0)));
    if (!buf) return -1;
    FLUSH_SUBNORMALS;
    float *st = buf, *T = buf + 2 * nf * P;
    for (int64_t p0 = 0; p0 < cols; p0 += P) {
        int m = (int)(cols - p0 < P ? cols - p0 : P);
        float *block = acts ? acts + p0 / P * L * nf * P : NULL;
        block_input(st, T, y, cv, p0, m, nf, N);
        for (int j = 0; j < L; j++) {
            float *act = block ? block + j * nf * P : buf + nf * P;
            layer(st, act, K + (int64_t)j * n * n, b + (int64_t)j * nf, h, n);
        }
        store_rows(out + p0, st, nf, N, m);
    }
    RESTORE_SUBNORMALS;
    free(buf);
    return 0;
}

/* Backward (the columns as the forward) from g_out to g and the weight gradients of those
 * columns, already times h as the fused node returns them: gK (L, n, n) = h sum e_z u^T,
 * gbz (L, n) = h sum e_z, gnegKt (L, n, n) = h sum e_u z'^T, gbu (L, n) = h sum e_u
 * (e = (1 - s^2) dL/dy'); with cv, the convolution's gradients into cv->gw, cv->gb instead
 * of dL/dy into g. Returns 0, or -1 where memory ran out. */
CLONES
int ms1_backward(const float *y, const float *acts, const float *K, const float *b, float h,
                 int n, int L, int64_t N, int64_t cols, const float *g_out, float *g,
                 float *gK, float *gbz, float *gnegKt, float *gbu, const conv_t *cv) {
    int nf = 2 * n, nn = n * n, taps = cv ? 9 * cv->c_in : 0;
    int64_t per_layer = 2 * nn + 2 * n; /* [K | negKt | bz | bu] */
    int64_t sums = L * per_layer + (cv ? nf * (taps + 1) : 0); /* then [conv w | conv b] */
    /* hist[j] = [u_j; z_{j+1}; s_z; s_u] of layer j (2 nf rows; s_z, s_u only without acts,
     * which are read where they are); then the gradient rows,
     * a scratch state, e, the conv's taps; the lanes; the double sums */
    float *hist = malloc(sizeof(float) *
                         ((int64_t)L * 2 * nf * P + 2 * nf * P + n * P + (int64_t)taps * P));
    float *lanes = calloc((size_t)(sums * V), sizeof(float));
    double *work = calloc((size_t)(sums * V), sizeof(double));
    if (!hist || !lanes || !work) {
        free(hist), free(lanes), free(work);
        return -1;
    }
    float *gs = hist + (int64_t)L * 2 * nf * P, *st = gs + nf * P, *e = st + nf * P;
    float *T = e + n * P;
    FLUSH_SUBNORMALS;
    float *gu = gs, *gz = gs + n * P;
    int blocks = 0;
    for (int64_t p0 = 0; p0 < cols; p0 += P) {
        int m = (int)(cols - p0 < P ? cols - p0 : P);
        /* the block's states again, keeping each layer's u_j, z_{j+1} and activations:
         * from the forward's activations (acts), or by running the forward again */
        const float *block = acts ? acts + p0 / P * L * nf * P : NULL;
        block_input(st, T, y, cv, p0, m, nf, N);
        for (int j = 0; j < L; j++) {
            float *hj = hist + (int64_t)j * 2 * nf * P;
            copy_block(hj, st, n); /* u_j */
            if (block) {
                const float *act = block + j * nf * P;
                add_scaled(st + n * P, act, h, n); /* z' = z + h s_z */
                add_scaled(st, act + n * P, h, n); /* u' = u + h s_u */
            } else {
                layer(st, hj + nf * P, K + (int64_t)j * nn, b + (int64_t)j * nf, h, n);
            }
            copy_block(hj + n * P, st + n * P, n); /* z_{j+1} */
        }
        load_rows(gs, g_out + p0, nf, N, m); /* zero past m: those lanes add nothing */
        for (int j = L - 1; j >= 0; j--) {
            const float *Kj = K + (int64_t)j * nn, *hj = hist + (int64_t)j * 2 * nf * P;
            const float *uj = hj, *z1 = hj + n * P;
            const float *sz = block ? block + j * nf * P : hj + nf * P, *su = sz + n * P;
            float *lj = lanes + (int64_t)j * per_layer * V;
            /* u-update: e_u = (1 - s_u^2) g_u; g_z -= h K e_u */
            for (int i = 0; i < n * P; i++) e[i] = gu[i] * (1.0f - su[i] * su[i]);
            for (int i = 0; i < n; i++)
                for (int k = 0; k < n; k++) {
                    float w = -h * Kj[i * n + k];
                    for (int p = 0; p < P; p++) gz[i * P + p] += w * e[k * P + p];
                }
            outer_lanes(lj + nn * V, lj + (2 * nn + n) * V, e, z1, n);
            /* z-update: e_z = (1 - s_z^2) g_z; g_u += h K^T e_z */
            for (int i = 0; i < n * P; i++) e[i] = gz[i] * (1.0f - sz[i] * sz[i]);
            for (int i = 0; i < n; i++)
                for (int k = 0; k < n; k++) {
                    float w = h * Kj[k * n + i];
                    for (int p = 0; p < P; p++) gu[i * P + p] += w * e[k * P + p];
                }
            outer_lanes(lj, lj + 2 * nn * V, e, uj, n);
        }
        if (cv) { /* the conv's gradients: dL/dw[c][t] += gs[c] T[t], dL/db[c] += gs[c] */
            float *lc = lanes + L * per_layer * V;
            for (int c = 0; c < nf; c++) {
                for (int t = 0; t < taps; t++)
                    dot_lanes(lc + ((int64_t)c * taps + t) * V, gs + c * P, T + t * P);
                dot_lanes(lc + ((int64_t)nf * taps + c) * V, gs + c * P, NULL);
            }
        } else {
            store_rows(g + p0, gs, nf, N, m);
        }
        if (++blocks == FLUSH || p0 + P >= cols) {
            flush_lanes(work, lanes, sums);
            blocks = 0;
        }
    }
    for (int64_t c = 0; c < sums; c++) { /* the lanes' sums: work[c] */
        double sum = 0.0;
        for (int v = 0; v < V; v++) sum += work[c * V + v];
        work[c] = sum;
    }
    for (int j = 0; j < L; j++) {
        const double *w = work + (int64_t)j * per_layer;
        for (int c = 0; c < nn; c++) {
            gK[j * nn + c] = (float)(h * w[c]);
            gnegKt[j * nn + c] = (float)(h * w[nn + c]);
        }
        for (int i = 0; i < n; i++) {
            gbz[j * n + i] = (float)(h * w[2 * nn + i]);
            gbu[j * n + i] = (float)(h * w[2 * nn + n + i]);
        }
    }
    RESTORE_SUBNORMALS;
    if (cv) {
        const double *w = work + L * per_layer;
        for (int c = 0; c < nf * taps; c++) cv->gw[c] = (float)w[c];
        for (int c = 0; c < nf; c++) cv->gb[c] = (float)w[nf * taps + c];
    }
    free(hist), free(lanes), free(work);
    return 0;
}


/* tanh of n floats (x into out), the stack's own: for tests/test_hdnn_cstack.py. */
CLONES
void ms1_tanh(const float *x, float *out, int64_t n) {
    float buf[P];
    for (int64_t p0 = 0; p0 < n; p0 += P) {
        int m = (int)(n - p0 < P ? n - p0 : P);
        memset(buf, 0, sizeof buf);
        memcpy(buf, x + p0, sizeof(float) * m);
        tanh_block(buf);
        memcpy(out + p0, buf, sizeof(float) * m);
    }
}
