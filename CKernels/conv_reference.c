// The convolution's scalar variants, the reference every SIMD kernel is checked against: plain
// loops with vectorisation disabled, over an input already padded (PH = PW = 0). The forward pass
// and the kernel gradient take any stride; the input gradient here is stride 1's (any other
// padding and stride: conv_padded.c).
#include "conv_internal.h"

// Plane Y[n,o] of an unpadded input, any stride; each element summed over c, kh, kw in that order.
static void forward_plane_scalar(float *Y, const float *X, const float *K, const float *B, ck_bias bias,
                                 ck_conv2d_geometry g, int n, int o) {
    float *Yno = Y + ((size_t)n * g.O + o) * g.OH * g.OW;
    for (int y = 0; y < g.OH; y++) {
        NO_VECTORIZE
        for (int x = 0; x < g.OW; x++) {
            float sum = bias_at(B, bias, o, y, x, g.OH, g.OW);
            for (int c = 0; c < g.C; c++) {
                const float *Xc = X + ((size_t)n * g.C + c) * g.H * g.W;
                const float *Kc = K + ((size_t)o * g.C + c) * g.KH * g.KW;
                NO_VECTORIZE
                for (int kh = 0; kh < g.KH; kh++) {
                    NO_VECTORIZE
                    for (int kw = 0; kw < g.KW; kw++)
                        sum += Xc[(y * g.SH + kh) * g.W + x * g.SW + kw] * Kc[kh * g.KW + kw];
                }
            }
            Yno[y * g.OW + x] = sum;
        }
    }
}

// dK[o,c] of an unpadded input, any stride; each element summed over n, y, x in that order.
static void kernel_grad_pair_scalar(float *dK, const float *X, const float *dY, ck_conv2d_geometry g, int o, int c) {
    for (int kh = 0; kh < g.KH; kh++) {
        for (int kw = 0; kw < g.KW; kw++) {
            float sum = 0.0f;
            for (int n = 0; n < g.N; n++) {
                const float *Xc = X + ((size_t)n * g.C + c) * g.H * g.W;
                const float *dYo = dY + ((size_t)n * g.O + o) * g.OH * g.OW;
                for (int y = 0; y < g.OH; y++) {
                    NO_VECTORIZE
                    for (int x = 0; x < g.OW; x++)
                        sum += Xc[(y * g.SH + kh) * g.W + x * g.SW + kw] * dYo[y * g.OW + x];
                }
            }
            dK[(((size_t)o * g.C + c) * g.KH + kh) * g.KW + kw] = sum;
        }
    }
}

// Plane dX[n,c] from the definition of the full convolution, dX[y][x] = sum over o, kh, kw of
// dY[y-kh][x-kw]·K[kh][kw] for the taps that land inside dY, summed in that order.
static void input_grad_plane_scalar(float *dX, const float *dY, const float *K, ck_conv2d_geometry g, int n, int c) {
    float *dXc = dX + ((size_t)n * g.C + c) * g.H * g.W;
    for (int y = 0; y < g.H; y++) {
        const int kh0 = y - g.OH + 1 > 0 ? y - g.OH + 1 : 0, kh1 = y < g.KH - 1 ? y : g.KH - 1;
        for (int x = 0; x < g.W; x++) {
            const int kw0 = x - g.OW + 1 > 0 ? x - g.OW + 1 : 0, kw1 = x < g.KW - 1 ? x : g.KW - 1;
            float sum = 0.0f;
            for (int o = 0; o < g.O; o++) {
                const float *dYo = dY + ((size_t)n * g.O + o) * g.OH * g.OW;
                const float *Ko = K + ((size_t)o * g.C + c) * g.KH * g.KW;
                for (int kh = kh0; kh <= kh1; kh++) {
                    NO_VECTORIZE
                    for (int kw = kw0; kw <= kw1; kw++) sum += dYo[(y - kh) * g.OW + x - kw] * Ko[kh * g.KW + kw];
                }
            }
            dXc[y * g.W + x] = sum;
        }
    }
}

void conv_forward_scalar(float *Y, const float *X, const float *K, const float *B, ck_bias bias, ck_conv2d_geometry g) {
    CK_PARALLEL_FOR(i, g.N * g.O, conv_flops(g), forward_plane_scalar(Y, X, K, B, bias, g, i / g.O, i % g.O));
}

void conv_backward_kernel_scalar(float *dK, const float *X, const float *dY, ck_conv2d_geometry g) {
    CK_PARALLEL_FOR(i, g.O * g.C, conv_flops(g), kernel_grad_pair_scalar(dK, X, dY, g, i / g.C, i % g.C));
}

void conv_backward_input_scalar(float *dX, const float *dY, const float *K, ck_conv2d_geometry g) {
    CK_PARALLEL_FOR(i, g.N * g.C, conv_flops(g), input_grad_plane_scalar(dX, dY, K, g, i / g.C, i % g.C));
}
