// The convolution's SIMD input gradient for stride 1 and any padding, as a forward pass: the
// derivation's dX[n,c] = sum_o dY[n,o] *full K[o,c] is the valid correlation of dY, zero-padded by
// KH-1-PH rows and KW-1-PW columns on each side, with K[o,c] rotated 180°; padding PH, PW of the
// forward pass only cuts the full result down to the input's size. So K is turned into
// Kt (C,O,KH,KW), Kt[c,o] = rot180(K[o,c]), dY is padded, and the forward pass's flat tiles
// (conv_forward.c) do the rest: one register-tiled kernel for both passes. Each element of dX is
// summed over o, then the taps, in the forward pass's fixed order.
#include "conv_internal.h"

// The forward pass that computes g's input gradient: X = padded dY (N,O,OH,OW), K = Kt, Y = dX
// (N,C,H,W).
ck_conv2d_geometry input_grad_as_forward(ck_conv2d_geometry g) {
    return (ck_conv2d_geometry){.N = g.N, .C = g.O, .H = g.OH, .W = g.OW, .O = g.C, .KH = g.KH, .KW = g.KW,
                                .PH = g.KH - 1 - g.PH, .PW = g.KW - 1 - g.PW, .SH = 1, .SW = 1, .OH = g.H, .OW = g.W};
}

// An image's padded dY of at most this many floats (64 KB) is padded on the stack of the thread
// that runs it, where the forward tiles read it from L1, one image at a time: the whole batch's
// padded dY went through memory (LeNet's second layer: 2 MB per batch of 128, a tenth of its
// input gradient's time). Larger images are padded whole into the workspace first.
#define PADDED_IMAGE_MAX (16 * 1024)

static size_t padded_image_size(ck_conv2d_geometry t) { return (size_t)t.C * (t.H + 2 * t.PH) * (t.W + 2 * t.PW); }

size_t input_grad_flat_work_size(ck_conv2d_geometry g) {
    const ck_conv2d_geometry t = input_grad_as_forward(g);
    const size_t padded = padded_image_size(t) <= PADDED_IMAGE_MAX ? 0 : padded_size(t);
    return (size_t)g.O * g.C * g.KH * g.KW + padded;
}

// Input channel c of Kt: Kt[c,o,kh,kw] = K[o,c,KH-1-kh,KW-1-kw].
static void turned_kernel_channel(float *Kt, const float *K, ck_conv2d_geometry g, int c) {
    const int taps = g.KH * g.KW;
    for (int o = 0; o < g.O; o++) {
        const float *from = K + ((size_t)o * g.C + c) * taps;
        float *to = Kt + ((size_t)c * g.O + o) * taps;
        for (int t = 0; t < taps; t++) to[t] = from[taps - 1 - t];
    }
}

// Image n of dX: its dY padded on the stack, then the forward pass over it (t is the forward
// geometry, padded_image_size(t) ≤ PADDED_IMAGE_MAX).
static void input_grad_image(float *dX, const float *dY, const float *Kt, ck_conv2d_geometry t, int n) {
    float dYp[padded_image_size(t)];
    ck_conv2d_geometry one = t;
    one.N = 1;
    const float *dYn = dY + (size_t)n * t.C * t.H * t.W;
    for (int p = 0; p < t.C; p++) conv_pad_plane(dYp, dYn, one, (size_t)p);
    conv_forward_simd_image(dX + (size_t)n * t.O * t.OH * t.OW, dYp, Kt, NULL, CK_BIAS_NONE, without_padding(one));
}

// work: input_grad_flat_work_size(g) floats.
void conv_backward_input_simd(float *dX, const float *dY, const float *K, ck_conv2d_geometry g, float *work) {
    const ck_conv2d_geometry t = input_grad_as_forward(g);
    float *Kt = work;
    CK_PARALLEL_FOR(c, g.C, (double)g.O * g.C * g.KH * g.KW, turned_kernel_channel(Kt, K, g, c));  // a few KB: one thread
    if (is_padded(t) && padded_image_size(t) <= PADDED_IMAGE_MAX) {
        CK_PARALLEL_FOR(n, g.N, conv_flops(g), input_grad_image(dX, dY, Kt, t, n));
        return;
    }
    if (is_padded(t)) {  // not for a 1×1 kernel with no padding
        float *dYp = work + (size_t)g.O * g.C * g.KH * g.KW;
        conv_pad_input(dYp, dY, t);
        dY = dYp;
    }
    conv_forward_simd(dX, dY, Kt, NULL, CK_BIAS_NONE, without_padding(t));
}
