// 2-D correlation and the convolutional layer's forward and backward passes.
//
// Everything reduces to one batched valid cross-correlation, conv_forward:
// - the layer forward is that correlation plus a bias;
// - a full correlation is a valid one over the input zero-padded by KH-1, KW-1 on each side;
// - the input gradient is a full convolution, i.e. a full correlation with the kernel rotated
//   by 180°, channels transposed: dX[n,c] = sum_o pad(dY[n,o]) ⋆ rot180(K[o,c]).
// The kernel gradient dK[o,c] = sum_n X[n,c] ⋆ dY[n,o] has a tiny output and its own loop.
#include "CKernels.h"
#include "vec.h"

// ================================ scalar variants ==============================================

static float bias_at(const float *B, ck_bias bias, int o, int y, int x, int OH, int OW) {
    switch (bias) {
    case CK_BIAS_CHANNEL: return B[o];
    case CK_BIAS_UNTIED: return B[((size_t)o * OH + y) * OW + x];
    default: return 0.0f;
    }
}

// X (N,C,H,W), K (O,C,KH,KW), Y (N,O,OH,OW); each element summed over c, kh, kw in that order.
static void conv_forward_scalar(float *Y, const float *X, const float *K, const float *B, ck_bias bias,
                                int N, int C, int H, int W, int O, int KH, int KW) {
    const int OH = H - KH + 1, OW = W - KW + 1;
    const double flops = 2.0 * N * O * OH * OW * C * KH * KW;
    #pragma omp parallel for collapse(2) schedule(static) if (flops >= CK_PARALLEL_MIN_FLOPS)
    for (int n = 0; n < N; n++) {
        for (int o = 0; o < O; o++) {
            float *Yno = Y + ((size_t)n * O + o) * OH * OW;
            for (int y = 0; y < OH; y++) {
                NO_VECTORIZE
                for (int x = 0; x < OW; x++) {
                    float s = bias_at(B, bias, o, y, x, OH, OW);
                    for (int c = 0; c < C; c++) {
                        const float *Xc = X + ((size_t)n * C + c) * H * W;
                        const float *Kc = K + ((size_t)o * C + c) * KH * KW;
                        NO_VECTORIZE
                        for (int kh = 0; kh < KH; kh++) {
                            NO_VECTORIZE
                            for (int kw = 0; kw < KW; kw++) {
                                s += Xc[(y + kh) * W + x + kw] * Kc[kh * KW + kw];
                            }
                        }
                    }
                    Yno[y * OW + x] = s;
                }
            }
        }
    }
}

static void conv_backward_kernel_scalar(float *dK, const float *X, const float *dY,
                                        int N, int C, int H, int W, int O, int KH, int KW) {
    const int OH = H - KH + 1, OW = W - KW + 1;
    const double flops = 2.0 * N * O * OH * OW * C * KH * KW;
    #pragma omp parallel for collapse(2) schedule(static) if (flops >= CK_PARALLEL_MIN_FLOPS)
    for (int o = 0; o < O; o++) {
        for (int c = 0; c < C; c++) {
            for (int kh = 0; kh < KH; kh++) {
                for (int kw = 0; kw < KW; kw++) {
                    float s = 0.0f;
                    for (int n = 0; n < N; n++) {
                        const float *Xc = X + ((size_t)n * C + c) * H * W;
                        const float *dYo = dY + ((size_t)n * O + o) * OH * OW;
                        for (int y = 0; y < OH; y++) {
                            NO_VECTORIZE
                            for (int x = 0; x < OW; x++) {
                                s += Xc[(y + kh) * W + x + kw] * dYo[y * OW + x];
                            }
                        }
                    }
                    dK[(((size_t)o * C + c) * KH + kh) * KW + kw] = s;
                }
            }
        }
    }
}

// ================================ SIMD variants =================================================

// One register tile of the forward correlation: OB output channels × R output rows × V vectors
// of VL columns, starting at output channel o0, row y0, column x0. Called with constant OB, R, V,
// so after inlining the accumulators live in registers: per kernel tap the tile loads R·V input
// vectors and OB broadcast weights for OB·R·V fused multiply-adds.
FORCE_INLINE void conv_tile(float *Yn, const float *Xn, const float *K, const float *B, ck_bias bias,
                            int o0, int y0, int x0, const int OB, const int R, const int V,
                            int C, int H, int W, int OH, int OW, int KH, int KW) {
    vf acc[4][3][3];
    for (int ob = 0; ob < OB; ob++) {
        for (int r = 0; r < R; r++) {
            for (int v = 0; v < V; v++) {
                const int o = o0 + ob, y = y0 + r, x = x0 + v * VL;
                if (bias == CK_BIAS_CHANNEL) acc[ob][r][v] = vsplat(B[o]);
                else if (bias == CK_BIAS_UNTIED) acc[ob][r][v] = vload(B + ((size_t)o * OH + y) * OW + x);
                else acc[ob][r][v] = vsplat(0.0f);
            }
        }
    }
    const size_t kstride = (size_t)C * KH * KW;  // from K[o,c] to K[o+1,c]
    for (int c = 0; c < C; c++) {
        const float *Xc = Xn + (size_t)c * H * W + (size_t)y0 * W + x0;
        const float *Kc = K + ((size_t)o0 * C + c) * KH * KW;
        for (int kh = 0; kh < KH; kh++) {
            for (int kw = 0; kw < KW; kw++) {
                vf in[3][3];
                for (int r = 0; r < R; r++)
                    for (int v = 0; v < V; v++)
                        in[r][v] = vload(Xc + (size_t)(r + kh) * W + kw + v * VL);
                for (int ob = 0; ob < OB; ob++) {
                    const vf w = vsplat(Kc[ob * kstride + kh * KW + kw]);
                    for (int r = 0; r < R; r++)
                        for (int v = 0; v < V; v++)
                            acc[ob][r][v] += w * in[r][v];
                }
            }
        }
    }
    for (int ob = 0; ob < OB; ob++)
        for (int r = 0; r < R; r++)
            for (int v = 0; v < V; v++)
                vstore(Yn + ((size_t)(o0 + ob) * OH + y0 + r) * OW + x0 + v * VL, acc[ob][r][v]);
}

#define TILE(OB, R, V) \
    conv_tile(Yn, Xn, K, B, bias, o0, y0, x0, OB, R, V, C, H, W, OH, OW, KH, KW)

// Output channels o0 ..< o0+OB (OB is 4 or 1) of one image: full-vector tiles, then the last
// OW % VL columns one element at a time.
FORCE_INLINE void conv_block(float *Yn, const float *Xn, const float *K, const float *B, ck_bias bias,
                             int o0, const int OB, int C, int H, int W, int OH, int OW, int KH, int KW) {
    const int nvec = OW / VL;
    if (nvec == 1) {
        // Narrow outputs (LeNet's second layer: 8 columns): stack rows instead of vectors.
        int y0 = 0;
        const int x0 = 0;
        for (; y0 + 3 <= OH; y0 += 3) TILE(OB, 3, 1);
        for (; y0 < OH; y0++) TILE(OB, 1, 1);
    } else {
        for (int y0 = 0; y0 < OH; y0++) {
            int x0 = 0, left = nvec;
            for (; left >= 3; left -= 3, x0 += 3 * VL) TILE(OB, 1, 3);
            if (left == 2) TILE(OB, 1, 2);
            if (left == 1) TILE(OB, 1, 1);
        }
    }
    for (int ob = 0; ob < OB; ob++) {
        const int o = o0 + ob;
        for (int y = 0; y < OH; y++) {
            for (int x = nvec * VL; x < OW; x++) {
                float s = bias_at(B, bias, o, y, x, OH, OW);
                for (int c = 0; c < C; c++) {
                    const float *Xc = Xn + (size_t)c * H * W;
                    const float *Kc = K + ((size_t)o * C + c) * KH * KW;
                    for (int kh = 0; kh < KH; kh++)
                        for (int kw = 0; kw < KW; kw++)
                            s += Xc[(y + kh) * W + x + kw] * Kc[kh * KW + kw];
                }
                Yn[((size_t)o * OH + y) * OW + x] = s;
            }
        }
    }
}

static void conv_forward_simd(float *Y, const float *X, const float *K, const float *B, ck_bias bias,
                              int N, int C, int H, int W, int O, int KH, int KW) {
    const int OH = H - KH + 1, OW = W - KW + 1;
    const int blocks = (O + 3) / 4;
    const double flops = 2.0 * N * O * OH * OW * C * KH * KW;
    #pragma omp parallel for collapse(2) schedule(static) if (flops >= CK_PARALLEL_MIN_FLOPS)
    for (int n = 0; n < N; n++) {
        for (int b = 0; b < blocks; b++) {
            float *Yn = Y + (size_t)n * O * OH * OW;
            const float *Xn = X + (size_t)n * C * H * W;
            const int o0 = 4 * b;
            if (o0 + 4 <= O) {
                conv_block(Yn, Xn, K, B, bias, o0, 4, C, H, W, OH, OW, KH, KW);
            } else {
                for (int o = o0; o < O; o++) conv_block(Yn, Xn, K, B, bias, o, 1, C, H, W, OH, OW, KH, KW);
            }
        }
    }
}

// Rows kh0 ..< kh0+KHB of dK[o,c] for one (o, c) pair, KHB and KW known at compile time: one
// vector accumulator per tap, each dY vector loaded once and multiplied by the KHB·KW input
// vectors it meets. KHB·KW stays within the 16 vector registers of AVX2.
FORCE_INLINE void kernel_grad_rows(float *dKoc, const float *X, const float *dY, int o, int c,
                                   int N, int C, int H, int W, int O, int KH, int kh0,
                                   const int KHB, const int KW) {
    const int OH = H - KH + 1, OW = W - KW + 1, nvec = OW / VL;
    vf acc[15];
    for (int t = 0; t < KHB * KW; t++) acc[t] = vsplat(0.0f);
    for (int n = 0; n < N; n++) {
        const float *Xc = X + ((size_t)n * C + c) * H * W + (size_t)kh0 * W;
        const float *dYo = dY + ((size_t)n * O + o) * OH * OW;
        for (int y = 0; y < OH; y++) {
            for (int xv = 0; xv < nvec; xv++) {
                const vf d = vload(dYo + y * OW + xv * VL);
                for (int kh = 0; kh < KHB; kh++)
                    for (int kw = 0; kw < KW; kw++)
                        acc[kh * KW + kw] += d * vload(Xc + (y + kh) * W + xv * VL + kw);
            }
        }
    }
    for (int kh = kh0; kh < kh0 + KHB; kh++) {
        for (int kw = 0; kw < KW; kw++) {
            float s = vsum(acc[(kh - kh0) * KW + kw]);
            for (int n = 0; n < N; n++) {
                const float *Xc = X + ((size_t)n * C + c) * H * W;
                const float *dYo = dY + ((size_t)n * O + o) * OH * OW;
                for (int y = 0; y < OH; y++)
                    for (int x = nvec * VL; x < OW; x++)
                        s += Xc[(y + kh) * W + x + kw] * dYo[y * OW + x];
            }
            dKoc[kh * KW + kw] = s;
        }
    }
}

// Any other kernel size: one tap at a time, a dot product over n, y, x with one accumulator.
static void kernel_grad_pair_any(float *dKoc, const float *X, const float *dY, int o, int c,
                                 int N, int C, int H, int W, int O, int KH, int KW) {
    const int OH = H - KH + 1, OW = W - KW + 1, nvec = OW / VL;
    for (int kh = 0; kh < KH; kh++) {
        for (int kw = 0; kw < KW; kw++) {
            vf acc = vsplat(0.0f);
            float tail = 0.0f;
            for (int n = 0; n < N; n++) {
                const float *Xc = X + ((size_t)n * C + c) * H * W;
                const float *dYo = dY + ((size_t)n * O + o) * OH * OW;
                for (int y = 0; y < OH; y++) {
                    for (int xv = 0; xv < nvec; xv++)
                        acc += vload(dYo + y * OW + xv * VL) * vload(Xc + (y + kh) * W + xv * VL + kw);
                    for (int x = nvec * VL; x < OW; x++)
                        tail += Xc[(y + kh) * W + x + kw] * dYo[y * OW + x];
                }
            }
            dKoc[kh * KW + kw] = vsum(acc) + tail;
        }
    }
}

static void conv_backward_kernel_simd(float *dK, const float *X, const float *dY,
                                      int N, int C, int H, int W, int O, int KH, int KW) {
    const int OH = H - KH + 1, OW = W - KW + 1;
    const double flops = 2.0 * N * O * OH * OW * C * KH * KW;
    #pragma omp parallel for collapse(2) schedule(static) if (flops >= CK_PARALLEL_MIN_FLOPS)
    for (int o = 0; o < O; o++) {
        for (int c = 0; c < C; c++) {
            float *dKoc = dK + ((size_t)o * C + c) * KH * KW;
            if (KW == 3) {
                int kh = 0;
                for (; kh + 3 <= KH; kh += 3) kernel_grad_rows(dKoc, X, dY, o, c, N, C, H, W, O, KH, kh, 3, 3);
                for (; kh < KH; kh++) kernel_grad_rows(dKoc, X, dY, o, c, N, C, H, W, O, KH, kh, 1, 3);
            } else if (KW == 5) {
                int kh = 0;
                for (; kh + 2 <= KH; kh += 2) kernel_grad_rows(dKoc, X, dY, o, c, N, C, H, W, O, KH, kh, 2, 5);
                for (; kh < KH; kh++) kernel_grad_rows(dKoc, X, dY, o, c, N, C, H, W, O, KH, kh, 1, 5);
            } else {
                kernel_grad_pair_any(dKoc, X, dY, o, c, N, C, H, W, O, KH, KW);
            }
        }
    }
}

// ================================ public entry points ===========================================

static void conv_forward(ck_variant v, float *Y, const float *X, const float *K, const float *B,
                         ck_bias bias, int N, int C, int H, int W, int O, int KH, int KW) {
    if (v == CK_SIMD) conv_forward_simd(Y, X, K, B, bias, N, C, H, W, O, KH, KW);
    else conv_forward_scalar(Y, X, K, B, bias, N, C, H, W, O, KH, KW);
}

void ck_conv2d_forward(ck_variant v, float *Y, const float *X, const float *K, const float *B,
                       ck_bias bias, int N, int C, int H, int W, int O, int KH, int KW) {
    conv_forward(v, Y, X, K, B, bias, N, C, H, W, O, KH, KW);
}

void ck_conv2d_backward_kernel(ck_variant v, float *dK, const float *X, const float *dY,
                               int N, int C, int H, int W, int O, int KH, int KW) {
    if (v == CK_SIMD) conv_backward_kernel_simd(dK, X, dY, N, C, H, W, O, KH, KW);
    else conv_backward_kernel_scalar(dK, X, dY, N, C, H, W, O, KH, KW);
}

void ck_conv2d_backward_bias(float *dB, const float *dY, ck_bias bias, int N, int O, int OH, int OW) {
    const size_t plane = (size_t)OH * OW;
    if (bias == CK_BIAS_CHANNEL) {
        for (int o = 0; o < O; o++) {
            float s = 0.0f;
            for (int n = 0; n < N; n++) {
                const float *dYo = dY + ((size_t)n * O + o) * plane;
                for (size_t i = 0; i < plane; i++) s += dYo[i];
            }
            dB[o] = s;
        }
    } else if (bias == CK_BIAS_UNTIED) {
        memcpy(dB, dY, sizeof(float) * O * plane);
        for (int n = 1; n < N; n++) {
            const float *dYn = dY + (size_t)n * O * plane;
            #pragma omp simd
            for (size_t i = 0; i < O * plane; i++) dB[i] += dYn[i];
        }
    }
}

size_t ck_conv2d_backward_input_work_size(int N, int C, int O, int H, int W, int KH, int KW) {
    const size_t PH = (size_t)H + KH - 1, PW = (size_t)W + KW - 1;  // padded dY plane
    return (size_t)N * O * PH * PW + (size_t)C * O * KH * KW;
}

// P (N,O,H+KH-1,W+KW-1) = dY (N,O,OH,OW) with KH-1 zero rows and KW-1 zero columns on every side.
static void pad_planes(float *P, const float *dY, int N, int O, int OH, int OW, int KH, int KW) {
    const int PH = OH + 2 * (KH - 1), PW = OW + 2 * (KW - 1);
    const double bytes = 4.0 * N * O * PH * PW;
    #pragma omp parallel for schedule(static) if (bytes >= CK_PARALLEL_MIN_FLOPS)
    for (int p = 0; p < N * O; p++) {
        float *Pp = P + (size_t)p * PH * PW;
        const float *dYp = dY + (size_t)p * OH * OW;
        memset(Pp, 0, sizeof(float) * PH * PW);
        for (int y = 0; y < OH; y++)
            memcpy(Pp + (size_t)(y + KH - 1) * PW + KW - 1, dYp + (size_t)y * OW, sizeof(float) * OW);
    }
}

void ck_conv2d_backward_input(ck_variant v, float *dX, const float *dY, const float *K, float *work,
                              int N, int C, int H, int W, int O, int KH, int KW) {
    const int OH = H - KH + 1, OW = W - KW + 1;
    const int PH = H + KH - 1, PW = W + KW - 1;
    float *P = work;
    float *Kt = work + (size_t)N * O * PH * PW;  // (C,O,KH,KW): Kt[c,o] = rot180(K[o,c])
    pad_planes(P, dY, N, O, OH, OW, KH, KW);
    for (int o = 0; o < O; o++)
        for (int c = 0; c < C; c++)
            for (int t = 0; t < KH * KW; t++)
                Kt[((size_t)c * O + o) * KH * KW + t] = K[((size_t)o * C + c) * KH * KW + KH * KW - 1 - t];
    conv_forward(v, dX, P, Kt, NULL, CK_BIAS_NONE, N, O, PH, PW, C, KH, KW);
}

void ck_correlate_valid(ck_variant v, float *out, const float *in, const float *k,
                        int H, int W, int KH, int KW) {
    conv_forward(v, out, in, k, NULL, CK_BIAS_NONE, 1, 1, H, W, 1, KH, KW);
}

// Full correlation of one plane with kt: pad, then a valid correlation.
static void correlate_full_with(ck_variant v, float *out, const float *in, const float *kt, float *work,
                                int H, int W, int KH, int KW) {
    float *P = work;  // (H+2KH-2, W+2KW-2)
    pad_planes(P, in, 1, 1, H, W, KH, KW);
    conv_forward(v, out, P, kt, NULL, CK_BIAS_NONE, 1, 1, H + 2 * (KH - 1), W + 2 * (KW - 1), 1, KH, KW);
}

size_t ck_plane_full_work_size(int H, int W, int KH, int KW) {
    return (size_t)(H + 2 * (KH - 1)) * (W + 2 * (KW - 1)) + (size_t)KH * KW;
}

void ck_correlate_full(ck_variant v, float *out, const float *in, const float *k, float *work,
                       int H, int W, int KH, int KW) {
    correlate_full_with(v, out, in, k, work, H, W, KH, KW);
}

void ck_convolve_full(ck_variant v, float *out, const float *in, const float *k, float *work,
                      int H, int W, int KH, int KW) {
    const size_t pad = (size_t)(H + 2 * (KH - 1)) * (W + 2 * (KW - 1));
    float *kr = work + pad;  // rot180(k)
    for (int t = 0; t < KH * KW; t++) kr[t] = k[KH * KW - 1 - t];
    correlate_full_with(v, out, in, kr, work, H, W, KH, KW);
}
