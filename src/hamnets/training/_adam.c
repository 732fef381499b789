/* One Adam step (L2 weight decay) of float32 tensors, bit for bit the update of torch's
 * fused CPU Adam kernel (hamnets/training/_adam.py loads this file; the test suite compares
 * the two bit for bit).
 *
 * Per element, with w = 1 - beta1, c2 = 1 - beta2 and the bias corrections of the tensor's
 * step count (all rounded to float from double, as torch does):
 *   g = fma(theta, wd, g)                              (where wd != 0)
 *   m = fma(w, g - m, m)          (w < 0.5; else fma(w - 1, g - m, g))
 *   v = fma(c2 g, g, v beta2)     (the last n mod 8 elements: fma(v, beta2, c2 g g))
 *   theta = theta - step_size m / (sqrt(v) / sqrt(bc2) + eps)
 * The two forms of v are where torch's loops round differently: its kernel takes whole
 * vectors (16 lanes with AVX-512, 8 with AVX2), then the rest in a scalar loop that its
 * compiler vectorised 8 at a time, and that loop's scalar epilogue contracts the other
 * multiply-add. Measured bit for bit against torch 2.13 (both instruction sets, 1 to 4
 * threads: where the ranges split does not matter, a tensor's last n mod 8 elements are the
 * epilogue's). Here every fused multiply-add is written out and nothing else is contracted.
 */
#include <math.h>
#include <stdint.h>

#include "_blocks.h"

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

typedef struct {
    float wd, w, beta2, c2, bc2_sqrt, eps, step_size;
} adam_consts;

/* elements [0, n); `epilogue`: the other form of v (the constants make four loops) */
static inline __attribute__((always_inline)) void loop(float *restrict p, const float *restrict g,
                                                       float *restrict m, float *restrict v,
                                                       int64_t n, const adam_consts *k,
                                                       const int decay, const int small,
                                                       const int epilogue) {
    const float wd = k->wd, w = k->w, b2 = k->beta2, c2 = k->c2, bc = k->bc2_sqrt, eps = k->eps;
    const float ss = k->step_size, w1 = w - 1.0f;
    for (int64_t i = 0; i < n; i++) {
        const float pi = p[i];
        const float gi = decay ? __builtin_fmaf(pi, wd, g[i]) : g[i];
        const float mi = small ? __builtin_fmaf(w, gi - m[i], m[i]) : __builtin_fmaf(w1, gi - m[i], gi);
        const float vi = epilogue ? __builtin_fmaf(v[i], b2, c2 * gi * gi)
                                  : __builtin_fmaf(c2 * gi, gi, v[i] * b2);
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - ss * mi / (sqrtf(vi) / bc + eps);
    }
}

CLONES static void update(float *p, const float *g, float *m, float *v, int64_t n,
                          const adam_consts *k, int epilogue) {
    const int decay = k->wd != 0.0f, small = fabsf(k->w) < 0.5f;
    if (epilogue) { /* (at most 7 elements) */
        loop(p, g, m, v, n, k, decay, small, 1);
    } else if (decay) {
        if (small)
            loop(p, g, m, v, n, k, 1, 1, 0);
        else
            loop(p, g, m, v, n, k, 1, 0, 0);
    } else {
        if (small)
            loop(p, g, m, v, n, k, 0, 1, 0);
        else
            loop(p, g, m, v, n, k, 0, 0, 0);
    }
}

/* One step of `count` tensors: each tensor's step counter (a float) is raised by one first,
 * as torch's optimiser does. */
void adam_step(int count, float *const *params, const float *const *grads, float *const *exp_avg,
               float *const *exp_avg_sq, float *const *steps, const int64_t *numel, double lr,
               double beta1, double beta2, double weight_decay, double eps) {
    for (int t = 0; t < count; t++) {
        *steps[t] += 1.0f;
        const double step = *steps[t];
        const double bc1 = 1 - pow(beta1, step), bc2 = 1 - pow(beta2, step);
        const adam_consts k = {(float)weight_decay, (float)(1 - beta1), (float)beta2,
                               (float)(1 - beta2), (float)sqrt(bc2), (float)eps,
                               (float)(lr / bc1)};
        const int64_t n = numel[t], head = n - n % 8;
        float *p = params[t], *m = exp_avg[t], *v = exp_avg_sq[t];
        const float *g = grads[t];
        update(p, g, m, v, head, &k, 0);
        update(p + head, g + head, m + head, v + head, n - head, &k, 1);
    }
}
