// The convolution's geometry, its workspaces and the ck_conv2d_* entry points. The output size,
// and every check of a geometry's sizes, are written here once: Swift's ConvGeometry and every
// kernel take a ck_conv2d_geometry this file made. The entry points pick a kernel by variant,
// padding and stride (conv_internal.h lists the files the kernels live in).
#include "conv_internal.h"
#include "planes.h"

// a·b·c·d ≤ INT32_MAX, for factors in 1 ... INT32_MAX: the kernels index a buffer with 32-bit
// products.
static int fits_int32(int64_t a, int64_t b, int64_t c, int64_t d) {
    int64_t p = a;
    const int64_t f[3] = {b, c, d};
    for (int i = 0; i < 3; i++) {
        if (p > INT32_MAX) return 0;
        p *= f[i];  // both factors ≤ 2³¹: no overflow
    }
    return p <= INT32_MAX;
}

// Whether a SIMD kernel takes the channel-last path, with channels in the vector lanes (the
// output channels; for the input gradient the input channels), rather than its stride-1 layout
// (flat positions or rows, conv_forward.c; for the input gradient a forward pass or a scatter,
// conv_input_grad.c): for strided convolutions, whose inputs are not a vector apart, and where
// the stride-1 layout would fill the lanes less well: below 3/4 of the channels' fill (C or O of
// that many rounded up to whole vectors), since the stride-1 kernels are the faster at equal fill
// (measured in docs/kernels.md, "Flat positions, rows or channels in the lanes").
static double channel_fill(int channels, int64_t rounded) { return (double)channels / (double)rounded; }

// The forward pass and the kernel gradient.
static int output_channel_last(ck_conv2d_geometry g) {
    if (is_strided(g)) return 1;
    const ck_conv2d_geometry u = without_padding(g);
    return (int64_t)(u.OH - 1) * u.W + u.OW < VL ||
           output_lane_fill(u) < 0.75 * channel_fill(g.O, (int64_t)channel_vectors(g) * VL);
}

// The input gradient. Its forward-pass way also multiplies the padding's zeros, not counted here:
// the channel-last kernel is slower still on small valid planes with large kernels, whose border
// elements each have taps of their own and go in part-empty tiles (docs/kernels.md).
static int input_grad_channel_last(ck_conv2d_geometry g) {
    if (is_strided(g)) return 1;
    const ck_conv2d_geometry t = without_padding(input_grad_as_forward(g));
    const double fill = input_grad_lane_fill(g);
    return (int64_t)(t.OH - 1) * t.W + t.OW < VL ||
           fill < 0.75 * channel_fill(g.C, (int64_t)input_channel_blocks(g) * input_block_width(g));
}

static int channel_last(ck_conv2d_geometry g) {
    return output_channel_last(g) || input_grad_channel_last(g);
}

ck_conv2d_status ck_conv2d_geometry_make(ck_conv2d_geometry *g, int N, int C, int H, int W, int O, int KH, int KW,
                                         int PH, int PW, int SH, int SW) {
    if (N < 1 || C < 1 || H < 1 || W < 1 || O < 1 || KH < 1 || KW < 1) return CK_CONV2D_EMPTY;
    if (PH < 0 || PW < 0 || PH >= KH || PW >= KW || PH > CK_CONV2D_MAX_PADDING_OR_STRIDE ||
        PW > CK_CONV2D_MAX_PADDING_OR_STRIDE)
        return CK_CONV2D_BAD_PADDING;
    if (SH < 1 || SW < 1 || SH > CK_CONV2D_MAX_PADDING_OR_STRIDE || SW > CK_CONV2D_MAX_PADDING_OR_STRIDE)
        return CK_CONV2D_BAD_STRIDE;
    const int64_t HP = (int64_t)H + 2 * PH, WP = (int64_t)W + 2 * PW;  // the padded input
    if (KH > HP || KW > WP) return CK_CONV2D_KERNEL_TOO_LARGE;
    *g = (ck_conv2d_geometry){.N = N, .C = C, .H = H, .W = W, .O = O, .KH = KH, .KW = KW, .PH = PH, .PW = PW,
                              .SH = SH, .SW = SW, .OH = (int)((HP - KH) / SH + 1), .OW = (int)((WP - KW) / SW + 1)};
    // X, K, Y, the padded input, dY padded for the input gradient and, channel-last, dY and dX
    // with the channels rounded up to whole vectors.
    if (!fits_int32(N, C, HP, WP) || !fits_int32(O, C, KH, KW) || !fits_int32(N, O, g->OH, g->OW) ||
        !fits_int32(N, O, (int64_t)H + KH - 1, (int64_t)W + KW - 1) ||
        (channel_last(*g) && !fits_int32(N, channel_vectors(*g) * (int64_t)VL, g->OH, g->OW)) ||
        (channel_last(*g) && !fits_int32(N, input_channel_blocks(*g) * (int64_t)input_block_width(*g), H, W)))
        return CK_CONV2D_TOO_LARGE;
    return CK_CONV2D_OK;
}

// ---- workspaces ----

size_t ck_conv2d_forward_work_size(ck_conv2d_geometry g) {
    return (is_padded(g) ? padded_size(g) : 0) + (output_channel_last(g) ? channel_last_kernel_size(g) : 0);
}

size_t ck_conv2d_backward_kernel_work_size(ck_conv2d_geometry g) {
    return (is_padded(g) ? padded_size(g) : 0) +
           (output_channel_last(g) ? channel_last_output_size(g) : kernel_grad_flat_work_size(without_padding(g)));
}

size_t ck_conv2d_backward_input_work_size(ck_conv2d_geometry g) {
    if (input_grad_channel_last(g))
        return input_channel_last_kernel_size(g) + input_paired_kernel_size(g) + input_channel_last_grad_size(g);
    return input_grad_work_size(g);
}

// ---- entry points ----

// The forward pass pads image by image on the stack (conv_internal.h, PADDED_IMAGE_MAX) where
// the stride-1 tiles take it and the batch gives every thread PADDED_IMAGES_MIN images or more
// (items of one image each: fewer would leave a thread idle where items of 4 output channels
// keep both busy).
static int pads_by_image(ck_variant v, ck_conv2d_geometry g) {
    return v == CK_SIMD && is_padded(g) && !output_channel_last(g) && batch_pads_by_image(g);
}

// The forward pass, and with stats its output planes' statistics: taken by the stride-1 SIMD
// kernels item by item while the planes are in cache, by the others in a pass over Y after.
// Returns whether the kernel took them.
static int forward(ck_variant v, float *Y, float *stats, const float *X, const float *K, const float *B, ck_bias bias,
                   float *work, ck_conv2d_geometry g) {
    if (pads_by_image(v, g)) {
        conv_forward_simd_padded_images(Y, stats, X, K, B, bias, g, padded_image_size(g) <= PADDED_IMAGE_MAX ? NULL : work);
        return 1;
    }
    const int channel_last = v == CK_SIMD && output_channel_last(g);
    if (channel_last && (!is_padded(g) || (channel_last_pads_images_on_stack(g) && batch_pads_by_image(g)))) {
        conv_strided_forward_simd(Y, X, K, B, bias, g, work);
        return 0;
    }
    if (is_padded(g)) {
        conv_pad_input(work, X, g);
        X = work;
        work += padded_size(g);
        g = without_padding(g);
    }
    if (channel_last) {
        conv_strided_forward_simd(Y, X, K, B, bias, g, work);
    } else if (!is_strided(g) && v == CK_SIMD) {
        conv_forward_simd(Y, stats, X, K, B, bias, g);
        return 1;
    } else if (!is_strided(g)) {
        conv_forward_valid(v, Y, X, K, B, bias, g);
    } else {
        conv_forward_scalar(Y, X, K, B, bias, g);
    }
    return 0;
}

void ck_conv2d_forward(ck_variant v, float *Y, const float *X, const float *K, const float *B, ck_bias bias,
                       float *work, ck_conv2d_geometry g) {
    forward(v, Y, NULL, X, K, B, bias, work, g);
}

void ck_conv2d_forward_statistics(ck_variant v, float *Y, float *stats, const float *X, const float *K, const float *B,
                                  ck_bias bias, float *work, ck_conv2d_geometry g) {
    if (!forward(v, Y, stats, X, K, B, bias, work, g) && stats)
        ck_batchnorm_plane_statistics(v, stats, Y, g.N, g.O, g.OH * g.OW);
}

void ck_conv2d_backward_kernel(ck_variant v, float *dK, const float *X, const float *dY, float *work,
                               ck_conv2d_geometry g) {
    const int channel_last = v == CK_SIMD && output_channel_last(g);
    if (channel_last && channel_last_pads_planes_on_stack(g)) return conv_strided_backward_kernel_simd(dK, X, dY, g, work);
    if (v == CK_SIMD && !channel_last && kernel_grad_masks_padding(g)) return conv_backward_kernel_simd(dK, X, dY, g, work);
    if (is_padded(g)) {
        conv_pad_input(work, X, g);
        X = work;
        work += padded_size(g);
        g = without_padding(g);
    }
    if (v != CK_SIMD) conv_backward_kernel_scalar(dK, X, dY, g);
    else if (!channel_last) conv_backward_kernel_simd(dK, X, dY, g, work);
    else conv_strided_backward_kernel_simd(dK, X, dY, g, work);
}

// dB[o] = Σ over n and the plane of dY[n,o]: a vector of running sums rather than one (a single
// chain is bound by the add latency: LeNet's first layer sums 37 000 values per channel per
// batch), each channel summed by one thread in a fixed order.
static void bias_gradient_channel(float *dB, const float *dY, int N, int O, size_t plane, int o) {
    vf acc = vsplat(0.0f);
    float tail = 0.0f;
    for (int n = 0; n < N; n++) plane_sum_running(&acc, &tail, dY + ((size_t)n * O + o) * plane, plane);
    dB[o] = vsum(acc) + tail;
}

void ck_conv2d_backward_bias(float *dB, const float *dY, ck_bias bias, int N, int O, int OH, int OW) {
    const size_t plane = (size_t)OH * OW;
    if (bias == CK_BIAS_CHANNEL) {
        // Bound by memory: on the team once dY outgrows CK_MEMORY_BOUND_BYTES (see vec.h).
        const double bytes = 4.0 * N * O * plane;
        CK_PARALLEL_FOR(o, O, bytes >= CK_MEMORY_BOUND_BYTES ? CK_PARALLEL_MIN_FLOPS : bytes / 4,
                        bias_gradient_channel(dB, dY, N, O, plane, o));
    } else if (bias == CK_BIAS_UNTIED) {
        memcpy(dB, dY, sizeof(float) * O * plane);
        for (int n = 1; n < N; n++) {
            const float *dYn = dY + (size_t)n * O * plane;
            #pragma omp simd
            for (size_t i = 0; i < O * plane; i++) dB[i] += dYn[i];
        }
    }
}

void ck_conv2d_backward_input(ck_variant v, float *dX, const float *dY, const float *K, float *work,
                              ck_conv2d_geometry g) {
    if (v == CK_SIMD && !input_grad_channel_last(g)) conv_backward_input_simd(dX, dY, K, g, work);
    else if (v == CK_SCALAR && !is_padded(g) && !is_strided(g)) conv_backward_input_scalar(dX, dY, K, g);
    else conv_backward_input_any(v, dX, dY, K, g, work);
}
