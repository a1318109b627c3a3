// Private to CKernels: what the convolution's files share. One convolution, one geometry
// (ck_conv2d_geometry, made and checked by ck_conv2d_geometry_make in conv_geometry.c): X (N,C,H,W)
// zero-padded by PH rows above and below and PW columns left and right, K (O,C,KH,KW) moved SH
// rows and SW columns at a time, Y (N,O,OH,OW). dX, dK and dY have the shapes of X, K and Y.
//
// The files, one job each:
//   conv_geometry.c     the geometry, workspace sizes and the ck_conv2d_* entry points, which pick
//                       a kernel by variant, padding and stride
//   conv_reference.c    the scalar variants over an unpadded input (the reference)
//   conv_forward.c      SIMD forward pass, unpadded, stride 1
//   conv_kernel_grad.c  SIMD kernel gradient, stride 1: unpadded, or padded under lane masks
//   conv_input_grad.c   SIMD input gradient, stride 1, as a forward pass over padded dY
//   conv_padded.c       padding and stride: the padded copy, the channel-last copies, the strided
//                       SIMD kernels and the input gradient of any padding and stride
//   correlate.c         single-plane correlation and convolution (ck_correlate_*, ck_convolve_full)
#ifndef CKERNELS_CONV_INTERNAL_H
#define CKERNELS_CONV_INTERNAL_H

#include "CKernels.h"
#include "vec.h"

static inline int is_padded(ck_conv2d_geometry g) { return g.PH != 0 || g.PW != 0; }
static inline int is_strided(ck_conv2d_geometry g) { return g.SH != 1 || g.SW != 1; }

// Multiply-adds of the valid correlation, ×2; the same count for both gradients.
static inline double conv_flops(ck_conv2d_geometry g) { return 2.0 * g.N * g.O * g.OH * g.OW * g.C * g.KH * g.KW; }

// g with the kernel size as constants: a FORCE_INLINE callee then unrolls its tap loops.
FORCE_INLINE ck_conv2d_geometry with_kernel(ck_conv2d_geometry g, const int KH, const int KW) {
    g.KH = KH;
    g.KW = KW;
    return g;
}

// g with the stride as constants: a FORCE_INLINE callee's offsets of x·SW are then constants.
FORCE_INLINE ck_conv2d_geometry with_stride(ck_conv2d_geometry g, const int SH, const int SW) {
    g.SH = SH;
    g.SW = SW;
    return g;
}

static inline float bias_at(const float *B, ck_bias bias, int o, int y, int x, int OH, int OW) {
    switch (bias) {
    case CK_BIAS_CHANNEL: return B[o];
    case CK_BIAS_UNTIED: return B[((size_t)o * OH + y) * OW + x];
    default: return 0.0f;
    }
}

// ---- workspaces of padding and stride (conv_padded.c) ----
// The padded input (N,C,H+2PH,W+2PW); K and dY with the output channel last, (C,KH,KW,OP) and
// (N,OH,OW,OP), OP = O rounded up to a whole vector.

static inline size_t padded_size(ck_conv2d_geometry g) { return (size_t)g.N * g.C * (g.H + 2 * g.PH) * (g.W + 2 * g.PW); }

// An image of at most this many floats (64 KB) once padded is padded on the stack of the thread
// that runs it, where the tiles then read it from L1 or L2, one image at a time: the whole
// batch's padded copy went through memory, in a pass of its own (LeNet's second layer's dY: 2 MB
// per batch of 128, a tenth of its input gradient's time). Larger images are padded whole into
// the workspace first. Per image means a team shares the batch's images, so only batches of
// PADDED_IMAGES_MIN or more per thread take it.
#define PADDED_IMAGE_MAX (16 * 1024)
// Larger images are padded image by image too, where the batch gives every thread
// PADDED_IMAGES_MIN of them, each into its own slot of the workspace just before its tiles read it
// from L2: the batch's padded copy, a pass of its own, had been read back from L3 (half the time
// of the first layer's input gradient at 28×28 with 32 channels).
#define PADDED_IMAGES_MIN 4
static inline int batch_pads_by_image(ck_conv2d_geometry g) { return g.N >= PADDED_IMAGES_MIN * ck_max_threads(); }
static inline size_t padded_image_size(ck_conv2d_geometry g) { return (size_t)g.C * (g.H + 2 * g.PH) * (g.W + 2 * g.PW); }
static inline int channel_vectors(ck_conv2d_geometry g) { return (g.O + VL - 1) / VL; }
// Output channel vectors per block of the channel-last forward pass and kernel gradient
// (conv_padded.c): AVX-512's 32 registers hold two vectors × 8 positions (16 accumulators, the two
// weights and a broadcast input); AVX2 one.
#define STRIDED_OV (CK_VREGS == 32 ? 2 : 1)

// The channel-last forward pass pads each image on the stack, and its kernel gradient each plane
// it sums over, where they fit PADDED_IMAGE_MAX: no padded copy of the batch is written (a third of
// their time on the strided bench shape, a pass through memory of its own). The kernel gradient's
// items are (block of output channels, input channel): it pads on the stack only where there is
// one block, so that each plane is still padded once (with two, 8×8 planes' twice-padded copies
// cost more than the batch's copy did).
static inline int channel_last_pads_images_on_stack(ck_conv2d_geometry g) {
    return padded_image_size(g) <= PADDED_IMAGE_MAX;
}
static inline int channel_last_pads_planes_on_stack(ck_conv2d_geometry g) {
    return (size_t)(g.H + 2 * g.PH) * (g.W + 2 * g.PW) <= PADDED_IMAGE_MAX && channel_vectors(g) <= STRIDED_OV;
}
static inline size_t channel_last_kernel_size(ck_conv2d_geometry g) { return (size_t)g.C * g.KH * g.KW * channel_vectors(g) * VL; }
static inline size_t channel_last_output_size(ck_conv2d_geometry g) { return (size_t)g.N * g.OH * g.OW * channel_vectors(g) * VL; }

// The channel-last input gradient runs along the input channels, a block of one or two vectors
// of them at a time: K with the input channel last, (O,KH,KW,CP), CP = C rounded up to whole
// blocks, and dX built block by block, (N, blocks, H, W, block), then moved into place.
// AVX-512's 32 registers hold a tile of two vectors × 8 elements, AVX2's 16 one × 8; a layer of
// at most one vector of channels takes blocks of one, to leave fewer lanes empty.
#define CK_IG_VECTORS (CK_VREGS == 32 ? 2 : 1)
static inline int input_block_vectors(ck_conv2d_geometry g) { return g.C > VL ? CK_IG_VECTORS : 1; }
static inline int input_block_width(ck_conv2d_geometry g) { return input_block_vectors(g) * VL; }
static inline int input_channel_blocks(ck_conv2d_geometry g) {
    return (int)(((int64_t)g.C + input_block_width(g) - 1) / input_block_width(g));
}
static inline size_t input_channel_last_kernel_size(ck_conv2d_geometry g) {
    return (size_t)g.O * g.KH * g.KW * input_channel_blocks(g) * input_block_width(g);
}
static inline size_t input_channel_last_grad_size(ck_conv2d_geometry g) {
    return (size_t)g.N * g.H * g.W * input_channel_blocks(g) * input_block_width(g);
}
// With 16 lanes and at most 8 input channels, a vector holds two elements of dX, the lanes of
// channel c being 2c and 2c+1: K copied once more with each channel in two lanes, (O,KH,KW,VL),
// for the row tiles that take it (conv_padded.c, input_grad_rows_paired).
static inline int input_grad_pairs(ck_conv2d_geometry g) { return VL == 16 && g.C <= VL / 2; }
static inline size_t input_paired_kernel_size(ck_conv2d_geometry g) {
    return input_grad_pairs(g) ? (size_t)g.O * g.KH * g.KW * VL : 0;
}

// The same convolution over X already padded: no padding left, the same OH and OW.
static inline ck_conv2d_geometry without_padding(ck_conv2d_geometry g) {
    g.H += 2 * g.PH;
    g.W += 2 * g.PW;
    g.PH = g.PW = 0;
    return g;
}

// ---- kernels over an unpadded input (PH = PW = 0); each overwrites its output ----

// Stride 1, over an unpadded input (W is the padded row): whether the forward pass and the
// kernel gradient run along rows, vectors from each row's start (the last moved left to end at
// OW), rather than over flat positions (conv_forward.c). Rows where an output costs few
// multiply-adds (a first layer, bound by writing Y or reading dY, which flat positions would
// store with masks or copy wide) and where whole vectors fill the rows at least as well as flat
// positions do (V vectors of VL lanes against W flat positions a row); rows of 1 to 4 vectors,
// kernels no wider than a register tile.
static inline int along_rows(ck_conv2d_geometry g) {
    if (g.OW < VL || g.OW > 4 * VL || g.KW > CK_TILE_MAX) return 0;
    const int V = (g.OW + VL - 1) / VL;
    return (int64_t)g.C * g.KH * g.KW <= 32 || V * VL <= g.W;
}

// Along rows of a vector and a half (OW = 24 with 16 lanes: LeNet's 5×5 on 28×28), the forward
// pass and the kernel gradient put two rows' last 8 positions in one vector (two 8-float loads),
// where a second vector a row, moved left to end at OW, would count a quarter of the row twice
// (harness, Zen 4, one thread, 64x1x28x28->8,5x5: forward 80 → 106 GFLOP/s).
static inline int paired_row_ends(ck_conv2d_geometry g) {
    return VL == 16 && CK_VREGS == 32 && g.OW == VL + VL / 2 && g.OH >= 4;
}

// The fraction of vector lanes that carry an output, stride 1 (g unpadded): OW of every V·VL
// along rows, OW of every W over flat positions.
static inline double output_lane_fill(ck_conv2d_geometry g) {
    return along_rows(g) ? (double)g.OW / (VL * ((g.OW + VL - 1) / VL)) : (double)g.OW / g.W;
}

// conv_reference.c: forward and kernel gradient for any stride, input gradient for stride 1.
CK_INTERNAL void conv_forward_scalar(float *Y, const float *X, const float *K, const float *B, ck_bias bias,
                                     ck_conv2d_geometry g);
CK_INTERNAL void conv_backward_kernel_scalar(float *dK, const float *X, const float *dY, ck_conv2d_geometry g);
CK_INTERNAL void conv_backward_input_scalar(float *dX, const float *dY, const float *K, ck_conv2d_geometry g);

// conv_forward.c: stride 1, over flat positions or along rows. No workspace. The _image form runs
// one image (g.N = 1) on the calling thread. With stats (N,O,2), not NULL, each output plane's
// plane_statistics too (ck_conv2d_forward_statistics).
CK_INTERNAL void conv_forward_simd(float *Y, float *stats, const float *X, const float *K, const float *B, ck_bias bias,
                                   ck_conv2d_geometry g);
CK_INTERNAL void conv_forward_simd_image(float *Y, float *stats, const float *X, const float *K, const float *B,
                                         ck_bias bias, ck_conv2d_geometry g);
// Padded X: each image padded, then its forward pass, the images shared by the team. An image is
// padded on the stack (slots NULL, padded_image_size(g) ≤ PADDED_IMAGE_MAX) or into its own slot
// of slots (padded_size(g) floats), just before its tiles read it.
CK_INTERNAL void conv_forward_simd_padded_images(float *Y, float *stats, const float *X, const float *K, const float *B,
                                                 ck_bias bias, ck_conv2d_geometry g, float *slots);
// conv_kernel_grad.c: stride 1, over flat positions. work: kernel_grad_flat_work_size(g) floats
// (dY with rows as wide as X's). Unpadded, or padded where kernel_grad_masks_padding(g) (padding
// that keeps the width, AVX-512): X and dY as they are, no work.
CK_INTERNAL size_t kernel_grad_flat_work_size(ck_conv2d_geometry g);
CK_INTERNAL int kernel_grad_masks_padding(ck_conv2d_geometry g);
CK_INTERNAL void conv_backward_kernel_simd(float *dK, const float *X, const float *dY, ck_conv2d_geometry g, float *work);

// conv_input_grad.c: stride 1, any padding (g as given, padding included), as a forward pass or a
// scatter. The forward pass whose output is g's input gradient; the fraction of vector lanes
// that carry a position of dX, by the way it takes; and its workspace.
CK_INTERNAL ck_conv2d_geometry input_grad_as_forward(ck_conv2d_geometry g);
CK_INTERNAL double input_grad_lane_fill(ck_conv2d_geometry g);
CK_INTERNAL size_t input_grad_work_size(ck_conv2d_geometry g);
CK_INTERNAL void conv_backward_input_simd(float *dX, const float *dY, const float *K, ck_conv2d_geometry g, float *work);

// The valid stride-1 forward pass of either variant (the layer's and the single planes').
static inline void conv_forward_valid(ck_variant v, float *Y, const float *X, const float *K, const float *B,
                                      ck_bias bias, ck_conv2d_geometry g) {
    if (v == CK_SIMD) conv_forward_simd(Y, NULL, X, K, B, bias, g);
    else conv_forward_scalar(Y, X, K, B, bias, g);
}

// ---- padding and stride (conv_padded.c) ----

// Xp (N,C,H+2PH,W+2PW) = X (N,C,H,W) with a border of zeros; or image n of it alone, Xp
// (C,H+2PH,W+2PW).
CK_INTERNAL void conv_pad_input(float *Xp, const float *X, ck_conv2d_geometry g);
CK_INTERNAL void conv_pad_image(float *Xp, const float *X, ck_conv2d_geometry g, int n);
// dX (N,C,H,W) = the inside of dXp (N,C,H+2PH,W+2PW).
CK_INTERNAL void conv_crop_input(float *dX, const float *dXp, ck_conv2d_geometry g);
// Stride > 1 or narrow planes, with the output channel last: the input unpadded or padded within
// channel_last_pads_images_on_stack. work: channel_last_kernel_size(g) floats.
CK_INTERNAL void conv_strided_forward_simd(float *Y, const float *X, const float *K, const float *B, ck_bias bias,
                                           ck_conv2d_geometry g, float *work);
// The same, the input unpadded or padded within channel_last_pads_planes_on_stack. work:
// channel_last_output_size(g) floats.
CK_INTERNAL void conv_strided_backward_kernel_simd(float *dK, const float *X, const float *dY, ck_conv2d_geometry g,
                                                   float *work);
// The input gradient for any padding and stride, from its definition (nothing padded): the
// scalar variant from dY and K as they are, no workspace (work may be NULL); the SIMD one with K
// and dX input-channel-last, summed in the scalar variant's order, work:
// input_channel_last_kernel_size(g) + input_paired_kernel_size(g) + input_channel_last_grad_size(g)
// floats.
CK_INTERNAL void conv_backward_input_any(ck_variant v, float *dX, const float *dY, const float *K,
                                         ck_conv2d_geometry g, float *work);

#endif
