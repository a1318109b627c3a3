// Single-plane correlation and convolution, the operations the tutorial derives its layer from
// (ConvKit's correlateValid, correlateFull, convolveFull on planes): each is the convolution's
// forward pass with one image, one channel in and one out, padding 0 and stride 1.
#include "conv_internal.h"

// The valid geometry of one plane (H,W) and kernel (KH,KW): 0 if the sizes are not valid ones.
static int plane_geometry(ck_conv2d_geometry *g, int H, int W, int KH, int KW) {
    return ck_conv2d_geometry_make(g, 1, 1, H, W, 1, KH, KW, 0, 0, 1, 1) == CK_CONV2D_OK;
}

void ck_correlate_valid(ck_variant v, float *Y, const float *X, const float *K,
                        int H, int W, int KH, int KW) {
    ck_conv2d_geometry g;
    if (plane_geometry(&g, H, W, KH, KW)) conv_forward_valid(v, Y, X, K, NULL, CK_BIAS_NONE, g);
}

// The padded plane (H+2KH-2, W+2KW-2), then room for a rotated kernel (KH,KW).
size_t ck_correlate_full_work_size(int H, int W, int KH, int KW) {
    return (size_t)(H + 2 * (KH - 1)) * (W + 2 * (KW - 1)) + (size_t)KH * KW;
}

// Full correlation of one plane with Kt: the plane zero-padded by KH-1 rows and KW-1 columns on
// every side, then a valid correlation. With one channel in and out, the scatter of the input
// gradient would do one read-modify-write per multiply-add; the padded copy is cheaper.
static void correlate_full_with(ck_variant v, float *Y, const float *X, const float *Kt, float *work,
                                int H, int W, int KH, int KW) {
    const int HP = H + 2 * (KH - 1), WP = W + 2 * (KW - 1);
    ck_conv2d_geometry g;
    if (!plane_geometry(&g, HP, WP, KH, KW)) return;
    float *padded = work;
    memset(padded, 0, sizeof(float) * HP * WP);
    for (int y = 0; y < H; y++) memcpy(padded + (size_t)(y + KH - 1) * WP + KW - 1, X + (size_t)y * W, sizeof(float) * W);
    conv_forward_valid(v, Y, padded, Kt, NULL, CK_BIAS_NONE, g);
}

void ck_correlate_full(ck_variant v, float *Y, const float *X, const float *K, float *work,
                       int H, int W, int KH, int KW) {
    correlate_full_with(v, Y, X, K, work, H, W, KH, KW);
}

void ck_convolve_full(ck_variant v, float *Y, const float *X, const float *K, float *work,
                      int H, int W, int KH, int KW) {
    float *Kr = work + (size_t)(H + 2 * (KH - 1)) * (W + 2 * (KW - 1));  // rot180(K)
    for (int t = 0; t < KH * KW; t++) Kr[t] = K[KH * KW - 1 - t];
    correlate_full_with(v, Y, X, Kr, work, H, W, KH, KW);
}
