// Private to CKernels: the steps of batch norm, ReLU and max pooling on one plane (N·C of them in
// a batch), which their own kernels (norm.c, elementwise.c, pool.c) and the fused ones (fused.c)
// both run, so a fused pass computes every value as the separate passes do, bit for bit.
#ifndef CKERNELS_PLANES_H
#define CKERNELS_PLANES_H

#include "CKernels.h"
#include "vec.h"

// norm.c. 1/sqrt(var + eps), as every batch norm kernel takes it.
CK_INTERNAL float inverse_std(float var, float eps);
// stats[0] = Σ p, stats[1] = Σ (p − stats[0]/HW)²: a plane's part of its channel's batch
// statistics (ck_batchnorm_plane_statistics).
CK_INTERNAL void plane_statistics(ck_variant v, float *stats, const float *p, int HW);
// Yp (HW) = (Xp − m)·invstd·g + b.
CK_INTERNAL void normalize_plane(ck_variant v, float *Yp, const float *Xp, float m, float invstd, float g, float b, int HW);
// Σ dYp and Σ dYp·x̂ over one plane, x̂ = (Xp − m)·invstd.
CK_INTERNAL void plane_gradient_sums(ck_variant v, const float *dYp, const float *Xp, float m, float invstd, int HW,
                                     float *sum_dy, float *sum_dy_xhat);
// dXp = scale·(dYp − mean_dy − x̂·mean_dy_xhat) on one plane.
CK_INTERNAL void plane_input_gradient(ck_variant v, float *dXp, const float *dYp, const float *Xp, float m, float invstd,
                                      float scale, float mean_dy, float mean_dy_xhat, int HW);

// p[0 ..< n] added to running sums: whole vectors into *acc, the last n mod VL values one at a
// time into *tail. A convolution's bias gradient sums dY this way, plane after plane
// (conv_geometry.c), and so does batch norm's backward pass over the dX it writes, which is that
// gradient when a convolution comes before the batch norm: the same sum, bit for bit.
static inline void plane_sum_running(vf *acc, float *tail, const float *p, size_t n) {
    const size_t whole = n / VL * VL;
    for (size_t i = 0; i < whole; i += VL) *acc += vload(p + i);
    for (size_t i = whole; i < n; i++) *tail += p[i];
}

// Batch norm's backward pass for channel c (ck_batchnorm_backward's), its incoming gradient's
// plane (n, c) given by `gradient`: dY's own plane, or one it rebuilds from what follows batch
// norm (fused.c) into `into` (HW floats). Each plane is asked for twice, once for the sums and
// once for dX, into `scratch`; or, where `into_dX` (and there is a dX), once, into dX's own
// plane, which the second pass then overwrites in place. With a dX and a dX_sum, dX_sum[c] = the
// sum of dX over channel c (plane_sum_running's order, vsum(acc) + tail).
typedef const float *(*gradient_plane_fn)(const void *context, int n, int c, float *into);
CK_INTERNAL void batchnorm_channel_backward(ck_variant v, gradient_plane_fn gradient, const void *context, int into_dX,
                                            float *scratch, float *dX, float *dgamma, float *dbeta, float *dX_sum,
                                            const float *X,
                                            const float *mean, const float *var, const float *gamma, float eps, int N,
                                            int C, int HW, int c);

// elementwise.c, on n values (y and x may alias; so may dx and dy). The last argument of
// relu_forward is unused (the maps share one signature).
CK_INTERNAL void relu_forward(ck_variant v, float *y, const float *x, const float *unused, size_t n);
CK_INTERNAL void relu_backward(ck_variant v, float *dx, const float *dy, const float *y, size_t n);

// pool.c. Yp, Ap (OH,OW) = max pooling of Xp (rows W wide) over K×K windows S apart, Ap the index
// of each maximum in the plane (Ap may be NULL).
CK_INTERNAL void pool_plane_any(float *Yp, int32_t *Ap, const float *Xp, int W, int OH, int OW, int K, int S);
// dXp (inputs) = dYp (outputs) routed to the indices Ap, overlapping windows added.
CK_INTERNAL void unpool_plane(float *dXp, const float *dYp, const int32_t *Ap, int inputs, int outputs);
// The same for planes (H,W) → (OH,OW) of K×K windows S apart: 2×2 windows 2 apart vectorised.
CK_INTERNAL void unpool_plane_any(float *dXp, const float *dYp, const int32_t *Ap, int H, int W, int OH, int OW, int K, int S);

#endif
