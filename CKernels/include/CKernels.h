// CKernels: ConvKit's hot loops over flat, row-major float buffers.
//
// Conventions (as in llm.c):
// - Shapes are single capitals; a comment gives each buffer's shape. Images are (N, C, H, W).
// - Kernels never allocate: the caller owns every buffer, including workspaces.
// - "overwrites" means every element of out is written; nothing is accumulated across calls.
// - Each output element is summed in a fixed order, so a result does not depend on the
//   number of threads.
// - The first argument picks the variant: CK_SCALAR (vectorisation disabled) or CK_SIMD.
//
// Names, the same in every file:
// - Sizes: N samples, C input channels, H×W an input plane, HW = H·W its size where only that
//   counts (batch norm, global pooling), O output channels or features, OH×OW an output plane,
//   I input features, D values per sample (dropout). A kernel is KH×KW; a square pooling window
//   K×K. Padding is PH rows and PW columns, stride SH rows and SW columns; S is a stride that is
//   the same on both axes (pooling).
// - Tensors as in the layer's formula: X in, Y out; the conv kernel K and bias B
//   (Y = B + X ⋆ K), the dense weight W and bias B (Y = X·Wᵀ + B; a dense layer has no width);
//   gamma, beta, mean, var as batch norm writes them. A gradient is d<name>: dX, dY, dK, dW, dB.
//   Flat vectors of n values (activations, optimizer updates) are lowercase: x, y, w, g.
// - A convolution's sizes travel together as a ck_conv2d_geometry, made by
//   ck_conv2d_geometry_make.
#ifndef CKERNELS_H
#define CKERNELS_H

#include <stddef.h>
#include <stdint.h>

typedef enum { CK_SCALAR = 0, CK_SIMD = 1 } ck_variant;

// ---- runtime -------------------------------------------------------------------------------

int ck_openmp_enabled(void);           // 1 if built with OpenMP
int ck_max_threads(void);              // threads a parallel region will use
void ck_set_num_threads(int n);        // no-op without OpenMP
const char *ck_simd_isa(void);         // vector instructions the SIMD variant was compiled for
int ck_simd_lanes(void);               // floats per vector in the SIMD variant: 16 with AVX-512, else 8

// ---- single-plane correlation and convolution ----------------------------------------------
// The convolution below with one image, one channel in and one out. Sizes must be ones
// ck_conv2d_geometry_make accepts (padding 0, stride 1); with others Y is left as it is.

// X (H,W), K (KH,KW), Y (H-KH+1, W-KW+1): Y = X ⋆ K. Overwrites Y.
void ck_correlate_valid(ck_variant v, float *Y, const float *X, const float *K,
                        int H, int W, int KH, int KW);
// X (H,W), K (KH,KW), Y (H+KH-1, W+KW-1): Y = zero-padded X ⋆ K. Overwrites Y.
// work: ck_correlate_full_work_size(H, W, KH, KW) floats (the padded input and a rotated kernel),
// for ck_convolve_full as well.
size_t ck_correlate_full_work_size(int H, int W, int KH, int KW);
void ck_correlate_full(ck_variant v, float *Y, const float *X, const float *K, float *work,
                       int H, int W, int KH, int KW);
// Same shapes: Y = X *full K = zero-padded X ⋆ rot180(K). Overwrites Y.
void ck_convolve_full(ck_variant v, float *Y, const float *X, const float *K, float *work,
                      int H, int W, int KH, int KW);

// ---- convolutional layer ------------------------------------------------------------------------

// One convolution: X (N,C,H,W) zero-padded by PH rows above and below and PW columns left and
// right, K (O,C,KH,KW) moved SH rows and SW columns at a time, Y (N,O,OH,OW) with
// OH = (H+2PH-KH)/SH+1 and OW = (W+2PW-KW)/SW+1, rounded down as in PyTorch (rows and columns of
// the padded input that no kernel position reaches are ignored). Padding 0 and stride 1 is the
// valid correlation. Each call takes a workspace of its own size, which depends on the layout
// the SIMD kernels take for g (conv_geometry.c): ask for it whichever variant runs.
// Make one with ck_conv2d_geometry_make, which fills OH and OW: every function below trusts them.
typedef struct { int N, C, H, W, O, KH, KW, PH, PW, SH, SW, OH, OW; } ck_conv2d_geometry;

// The most rows or columns of padding and the largest stride ck_conv2d_geometry_make accepts:
// far above any useful value, low enough that sizes computed from them cannot overflow.
#define CK_CONV2D_MAX_PADDING_OR_STRIDE 4096

typedef enum {
    CK_CONV2D_OK = 0,
    CK_CONV2D_EMPTY = 1,             // a size (N, C, H, W, O, KH, KW) below 1
    CK_CONV2D_BAD_PADDING = 2,       // PH, PW not in 0 ..< KH, KW, or above the maximum
    CK_CONV2D_BAD_STRIDE = 3,        // SH, SW not in 1 ... the maximum
    CK_CONV2D_KERNEL_TOO_LARGE = 4,  // KH > H+2PH or KW > W+2PW
    CK_CONV2D_TOO_LARGE = 5,         // X, K, Y, the padded X or dY or a channel-last copy has
                                     // more than INT32_MAX elements; *g is filled in all the same
} ck_conv2d_status;

// Checks the sizes in that order and fills *g: the one place the output size is computed.
// Returns CK_CONV2D_OK, or the first problem found (then *g is unchanged, except as noted).
ck_conv2d_status ck_conv2d_geometry_make(ck_conv2d_geometry *g, int N, int C, int H, int W, int O, int KH, int KW,
                                         int PH, int PW, int SH, int SW);

typedef enum {
    CK_BIAS_NONE = 0,
    CK_BIAS_CHANNEL = 1,   // B is (O): PyTorch's convention
    CK_BIAS_UNTIED = 2,    // B is (O, OH, OW): one bias per output position, as in the tutorial
} ck_bias;

// Y[n,o,y,x] = B[o] + sum over c, kh, kw of Xpad[n,c,y·SH+kh,x·SW+kw]·K[o,c,kh,kw], B per bias
// (untied: (O,OH,OW)). Overwrites Y. work: ck_conv2d_forward_work_size(g) floats (the padded
// input, and K with the output channel last where the SIMD kernels put output channels in the
// lanes: strided, or narrow planes); work may be NULL where that size is 0.
void ck_conv2d_forward(ck_variant v, float *Y, const float *X, const float *K, const float *B, ck_bias bias,
                       float *work, ck_conv2d_geometry g);
// ck_conv2d_forward, and stats (N,O,2) = ck_batchnorm_plane_statistics(v, stats, Y, N, O, OH·OW)
// bit for bit, the statistics of a batch norm after the convolution: where the kernel can, taken
// from each plane of Y while it is in cache (a pass of their own reads Y back from memory). With
// stats NULL, ck_conv2d_forward.
void ck_conv2d_forward_statistics(ck_variant v, float *Y, float *stats, const float *X, const float *K, const float *B,
                                  ck_bias bias, float *work, ck_conv2d_geometry g);
size_t ck_conv2d_forward_work_size(ck_conv2d_geometry g);
// dK (O,C,KH,KW) = sum over n, y, x of Xpad[n,c,y·SH+kh,x·SW+kw]·dY[n,o,y,x]. Overwrites dK.
// work: ck_conv2d_backward_kernel_work_size(g) floats (the padded input, and dY copied with rows
// as wide as the input's, or with the output channel last where the forward pass's is).
void ck_conv2d_backward_kernel(ck_variant v, float *dK, const float *X, const float *dY, float *work,
                               ck_conv2d_geometry g);
size_t ck_conv2d_backward_kernel_work_size(ck_conv2d_geometry g);
// dB per bias: sum of dY (N,O,OH,OW) over n (and over positions for CK_BIAS_CHANNEL), the same
// for any padding and stride. Overwrites dB.
void ck_conv2d_backward_bias(float *dB, const float *dY, ck_bias bias, int N, int O, int OH, int OW);
// dX (N,C,H,W): dX[n,c,y,x] = sum over o and the taps kh, kw with (y+PH-kh)/SH and (x+PW-kw)/SW
// whole and inside dY of dY[n,o,(y+PH-kh)/SH,(x+PW-kw)/SW]·K[o,c,kh,kw]; for padding 0 and
// stride 1, dX[n,c] = sum_o dY[n,o] *full K[o,c]. Overwrites dX.
// work: ck_conv2d_backward_input_work_size(g) floats (for stride 1 K turned and dY padded, or a
// padded dX; K and dX with the input channel last when strided or on narrow planes).
void ck_conv2d_backward_input(ck_variant v, float *dX, const float *dY, const float *K, float *work,
                              ck_conv2d_geometry g);
size_t ck_conv2d_backward_input_work_size(ck_conv2d_geometry g);

// ---- fully connected layer --------------------------------------------------------------------

// X (N,I), W (O,I) as PyTorch's Linear.weight, B (O), Y (N,O): Y = X·Wᵀ + B.
// Overwrites Y.
void ck_dense_forward(ck_variant v, float *Y, const float *X, const float *W, const float *B,
                      int N, int I, int O);
// dY (N,O) -> dX (N,I) = dY·W (skipped when dX is NULL), dW (O,I) = dYᵀ·X,
// dB (O) = sum_n dY. Overwrites all three.
void ck_dense_backward(ck_variant v, float *dX, float *dW, float *dB, const float *dY,
                       const float *X, const float *W, int N, int I, int O);

// The backward pass fused with a plain SGD step, for training with SGD: dX (N,I) = dY·W
// with W as it was in the forward pass (skipped when dX is NULL), then
// W -= lr·dYᵀ·X and B -= lr·Σ_n dY, in one pass over W. Overwrites dX, updates W
// and B in place. work: ck_dense_backward_sgd_work_size(N, I, O) floats.
void ck_dense_backward_sgd(ck_variant v, float *dX, float *W, float *B, const float *dY, const float *X,
                           float lr, float *work, int N, int I, int O);
size_t ck_dense_backward_sgd_work_size(int N, int I, int O);

// ---- elementwise maps (y and x may alias; so may dx and dy) ------------------------------------

void ck_sigmoid_forward(ck_variant v, float *y, const float *x, size_t n);
void ck_sigmoid_backward(ck_variant v, float *dx, const float *dy, const float *y, size_t n);
void ck_tanh_forward(ck_variant v, float *y, const float *x, size_t n);
void ck_tanh_backward(ck_variant v, float *dx, const float *dy, const float *y, size_t n);
void ck_relu_forward(ck_variant v, float *y, const float *x, size_t n);
void ck_relu_backward(ck_variant v, float *dx, const float *dy, const float *y, size_t n);
// out = a + b, elementwise; out may alias a or b. Overwrites out.
void ck_add(ck_variant v, float *out, const float *a, const float *b, size_t n);

// ---- pooling ----------------------------------------------------------------------------------

// X (N,C,H,W), Y and argmax (N,C,OH,OW), OH = (H-K)/S+1: max over each K×K window, stride S.
// argmax holds the index within the input plane, for the backward pass. Overwrites Y and argmax;
// argmax may be NULL (inference: no backward pass follows), and then only Y is written.
void ck_maxpool_forward(float *Y, int32_t *argmax, const float *X,
                        int N, int C, int H, int W, int K, int S);
// dX (N,C,H,W) = dY routed to each window's maximum. Overwrites dX.
void ck_maxpool_backward(float *dX, const float *dY, const int32_t *argmax,
                         int N, int C, int H, int W, int OH, int OW);

// X (N,C,H,W), Y (N,C,OH,OW), OH = (H-K)/S+1, OW = (W-K)/S+1: the mean of each K×K window,
// stride S (PyTorch's AvgPool2d(K, S): divisor K², no padding). Overwrites Y.
void ck_avgpool_forward(ck_variant v, float *Y, const float *X, int N, int C, int H, int W, int K, int S);
// dX (N,C,H,W) = each window's dY/K² spread over its window (overlaps add). Overwrites dX.
void ck_avgpool_backward(ck_variant v, float *dX, const float *dY, int N, int C, int H, int W, int K, int S);
// X (N,C,HW) with HW = H·W, Y (N,C): the mean of each plane. Overwrites Y.
void ck_global_avgpool_forward(ck_variant v, float *Y, const float *X, int N, int C, int HW);
// dX (N,C,HW) = dY[n,c]/HW everywhere in plane (n,c). Overwrites dX.
void ck_global_avgpool_backward(ck_variant v, float *dX, const float *dY, int N, int C, int HW);

// ---- batch normalisation ------------------------------------------------------------------------

// X (N,C,HW): HW = H·W after a convolution, 1 after a dense layer (C features). Per channel c, over
// the N·HW values of X[:,c,:]: mean (C) and biased variance var (C). Overwrites both.
void ck_batchnorm_statistics(ck_variant v, float *mean, float *var, const float *X, int N, int C, int HW);
// The same in two steps, the first of which a convolution can take over while it writes X
// (ck_conv2d_forward_statistics): stats (N,C,2) = each plane's sum s and Σ (x − s/HW)²; then mean
// and var from them, equal bit for bit to ck_batchnorm_statistics of X (of the same variant).
void ck_batchnorm_plane_statistics(ck_variant v, float *stats, const float *X, int N, int C, int HW);
void ck_batchnorm_statistics_of_planes(float *mean, float *var, const float *stats, int N, int C, int HW);
// Y (N,C,HW) = (X − mean[c]) / sqrt(var[c] + eps) · gamma[c] + beta[c]: the batch's statistics in
// training, the running ones in inference. Overwrites Y.
void ck_batchnorm_forward(ck_variant v, float *Y, const float *X, const float *mean, const float *var,
                          const float *gamma, const float *beta, float eps, int N, int C, int HW);
// running = (1 − momentum)·running + momentum·batch, per channel (C), as PyTorch: the variance
// made unbiased with count/(count − 1), count = N·HW (0 when count is 1). Updates in place.
void ck_batchnorm_update_running(float *running_mean, float *running_var, const float *mean, const float *var,
                                 float momentum, long count, int C);
// The gradient of ck_batchnorm_forward with the batch's own statistics (mean, var as it gave them),
// with x̂ = (X − mean)·invstd, invstd = 1/sqrt(var + eps), M = N·HW:
// dbeta (C) = Σ dY, dgamma (C) = Σ dY·x̂, dX (N,C,HW) = gamma·invstd·(dY − dbeta/M − x̂·dgamma/M)
// (skipped when dX is NULL). Overwrites all three.
void ck_batchnorm_backward(ck_variant v, float *dX, float *dgamma, float *dbeta, const float *dY, const float *X,
                           const float *mean, const float *var, const float *gamma, float eps, int N, int C, int HW);

// ---- batch norm, ReLU and max pooling fused ------------------------------------------------------
// The passes that follow a convolution, in one pass over memory where separately they would be two
// or three: each gives the separate kernels' results bit for bit, and leaves out the outputs of
// the steps inside (BN(X), relu(BN(X)) before the pooling), which their backward passes rebuild
// plane by plane. Planes (HW = H·W) of at most CK_FUSED_PLANE_MAX values: each is held on the
// stack while it passes through the steps.
#define CK_FUSED_PLANE_MAX 16384

// Y = relu(ck_batchnorm_forward's Y), shapes as there. Overwrites Y.
void ck_batchnorm_relu_forward(ck_variant v, float *Y, const float *X, const float *mean, const float *var,
                               const float *gamma, const float *beta, float eps, int N, int C, int HW);
// ck_batchnorm_backward of the gradient under the ReLU, (Y > 0 ? dY : 0): dY is ∂E/∂Y and Y the
// output of ck_batchnorm_relu_forward. Overwrites dX (skipped when NULL; it may be X's or dY's
// own memory, at the cost of a second pass rebuilding the gradient), dgamma and dbeta; and, with
// a dX, dX_sum (C) = Σ of dX over each channel (skipped when NULL): bit for bit what
// ck_conv2d_backward_bias gives from dX, the bias gradient of a convolution before the batch
// norm, taken while each plane of dX is in cache instead of in a pass of its own.
void ck_batchnorm_relu_backward(ck_variant v, float *dX, float *dgamma, float *dbeta, float *dX_sum, const float *dY,
                                const float *Y, const float *X, const float *mean, const float *var, const float *gamma, float eps,
                                int N, int C, int HW);
// Y, argmax = ck_maxpool_forward of relu(X). Overwrites Y and argmax (which may be NULL).
void ck_relu_maxpool_forward(float *Y, int32_t *argmax, const float *X, int N, int C, int H, int W, int K, int S);
// dX (N,C,H,W) = the ReLU's backward pass of ck_maxpool_backward's dX: Y and argmax as the forward
// pass wrote them. Overwrites dX.
void ck_relu_maxpool_backward(float *dX, const float *dY, const float *Y, const int32_t *argmax,
                              int N, int C, int H, int W, int K, int S);
// Y, argmax = ck_maxpool_forward of relu(BN(X)), BN as ck_batchnorm_forward. Overwrites Y and argmax
// (which may be NULL).
void ck_batchnorm_relu_maxpool_forward(ck_variant v, float *Y, int32_t *argmax, const float *X, const float *mean,
                                       const float *var, const float *gamma, const float *beta, float eps,
                                       int N, int C, int H, int W, int K, int S);
// ck_batchnorm_backward of the gradient under the ReLU and the pooling: dY (N,C,OH,OW) is ∂E/∂Y, and
// Y and argmax what the forward pass wrote. Overwrites dX (skipped when NULL; it may be X's own
// memory, at the cost of a second pass rebuilding the gradient), dgamma, dbeta and dX_sum, as
// ck_batchnorm_relu_backward.
void ck_batchnorm_relu_maxpool_backward(ck_variant v, float *dX, float *dgamma, float *dbeta, float *dX_sum,
                                        const float *dY, const float *Y, const int32_t *argmax, const float *X, const float *mean,
                                        const float *var, const float *gamma, float eps, int N, int C, int H, int W,
                                        int K, int S);

// ---- dropout -------------------------------------------------------------------------------------

// X, Y, mask (N,D): mask = 1/(1−p) or 0, Y = X·mask. Element i of sample n is dropped with
// probability p by a hash of (key, first_sample + n, i), so a sample's mask depends only on the
// key and its position in the whole batch: not on threads, variant or how the batch is split.
// 0 ≤ p < 1. Overwrites Y and mask.
void ck_dropout_forward(ck_variant v, float *Y, float *mask, const float *X, float p, uint64_t key,
                        long first_sample, int N, int D);
// dX (N,D) = dY·mask. Overwrites dX (which may alias dY).
void ck_dropout_backward(ck_variant v, float *dX, const float *dY, const float *mask, int N, int D);

// ---- optimizer updates, over n parameters -------------------------------------------------------

// w -= lr·(g + wd·w)
void ck_sgd_update(float *w, const float *g, float lr, float wd, size_t n);
// u = mu·u + (g + wd·w); w -= lr·(nesterov ? g + wd·w + mu·u : u)
void ck_momentum_update(float *w, float *u, const float *g, float lr, float mu, float wd,
                        int nesterov, size_t n);
// g' = g + wd·w; m = b1·m + (1-b1)·g'; s = b2·s + (1-b2)·g'²;
// w -= (lr/c1)·m / (sqrt(s)·(1/sqrt(c2)) + eps), with c1 = 1-b1^t, c2 = 1-b2^t: lr·(m/c1) /
// (sqrt(s/c2) + eps) with the two per-call factors taken once.
void ck_adam_update(float *w, float *m, float *s, const float *g, float lr, float b1, float b2,
                    float eps, float wd, float c1, float c2, size_t n);

// ---- processes (MPI) ---------------------------------------------------------------------------

// Data-parallel training across processes started by mpirun. Built without MPI (see
// Package.swift), or run without mpirun, every call acts on a group of one: rank 0 of 1, reductions
// and broadcasts leave their buffer as it is. Functions returning int return 0 on success, else
// an MPI error code (or a negative one of ours) for ck_mpi_error_string: communication errors are
// returned, never fatal. One call at a time, from any thread (MPI_THREAD_SERIALIZED), never from
// inside an OpenMP region.
int ck_mpi_available(void);            // 1 if built with MPI
int ck_mpi_launched(void);             // size mpirun announced in the environment, else 0 (any build)
// Initialises MPI only when ck_mpi_launched() (so a plain run never does); later calls do nothing.
int ck_mpi_init(void);
int ck_mpi_rank(void);                 // 0 until initialised
int ck_mpi_size(void);                 // 1 until initialised
int ck_mpi_finalize(void);             // a normal end; every rank must call it
void ck_mpi_abort(int code);           // ends every rank with exit code `code`; returns only if not initialised
int ck_mpi_barrier(void);
// Collectives not complete after `seconds` return an error instead of waiting for a process that
// died or hangs; after that error only ck_mpi_abort is safe. 0 (the default) waits forever.
void ck_mpi_set_timeout(double seconds);
// Writes the message of an error code into text (len bytes, always terminated).
void ck_mpi_error_string(int code, char *text, size_t len);

// x (n) on every rank = x (n) on rank 0. Overwrites x on ranks other than 0.
int ck_mpi_broadcast_floats(float *x, size_t n);
int ck_mpi_broadcast_bytes(void *x, size_t n);

// x (n) on every rank = ((x₀ + x₁) + x₂) + … + x_{P-1}, the ranks' vectors summed in rank order
// whatever MPI's own reduction order, so the result is bit-identical on every rank and from run to
// run. Rank r owns the slice [r·n/P, (r+1)·n/P) (the first n mod P ranks one element more): all
// ranks send it their part of it, it sums the P parts in rank order, and every rank gathers all
// slices. Overwrites x. work: ck_mpi_sum_work_size(n) elements of x's type (it depends on the
// number of ranks, so ask after ck_mpi_init; 0 in a group of one). Integer sums wrap on overflow.
size_t ck_mpi_sum_work_size(size_t n);
int ck_mpi_allreduce_sum_floats(float *x, float *work, size_t n);
int ck_mpi_allreduce_sum_doubles(double *x, double *work, size_t n);
int ck_mpi_allreduce_sum_ints(int64_t *x, int64_t *work, size_t n);

// ---- benchmark support ---------------------------------------------------------------------------

// Runs `iterations` steps of independent fused multiply-adds on each of `threads` threads (one
// parallel region, vectors of ck_simd_lanes() lanes as the kernels', 12 accumulator chains per
// thread) and returns the number of flops done, for the caller to divide by the wall time: the
// peak fp32 FMA rate the kernels can reach.
double ck_peak_fma(int threads, long iterations);
// The same with 16-lane vectors (one AVX-512 zmm register; two halves where there is none): where
// the kernels have 8 lanes, the rate 16-lane kernels could reach.
double ck_peak_fma_16(int threads, long iterations);
// Passes `passes` times over x (n floats, split into one contiguous slice per thread as the
// kernels split their rows) with a read sweep and a read-modify-write sweep, as a training step
// passes over a weight matrix, and returns the bytes moved (12 per element per pass), for the
// caller to divide by the wall time: the memory bandwidth for a working set of 4·n bytes.
// Overwrites x with values near 1.
double ck_stream_bandwidth(float *x, size_t n, int threads, long passes);

#endif
