// Why AlexNet conv2's FFT products are bound by the spectra stream (Docs/Algorithms.md, tenth session): the
// frequency-domain products of a 64→COUT layer with 4 tiles and BLOCKS blocks of 16 bins, with the bins as vector
// lanes (2 outputs × 4 tiles per step: 6 loads per 16 FMAs, so loads are no limit), timed as the weights grow past
// the cache; then a plain sequential read of 1…128 MB. x86-64 with AVX-512 only (a measurement of this host).
//
//   cc -O2 -mavx512f -mfma Bench/scripts/spectra_stream.c -o /tmp/spectra_stream && /tmp/spectra_stream
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

// y[co 2][t 4][re, im] = sum over ci of w[ci][co 2][re, im] * x[ci][t 4][re, im], 16 bins per vector.
static void products(int kc, const float *x, long xs, const float *w, float *y) {
    __m512 a[16];
    for (int i = 0; i < 16; i++) a[i] = _mm512_setzero_ps();
    for (int c = 0; c < kc; c++) {
        const float *xp = x + c * xs, *wp = w + c * 64;
        __m512 w0r = _mm512_load_ps(wp), w0i = _mm512_load_ps(wp + 16), w1r = _mm512_load_ps(wp + 32), w1i = _mm512_load_ps(wp + 48);
        for (int t = 0; t < 4; t++) {
            __m512 xr = _mm512_load_ps(xp + 32 * t), xi = _mm512_load_ps(xp + 32 * t + 16);
            a[2 * t] = _mm512_fnmadd_ps(w0i, xi, _mm512_fmadd_ps(w0r, xr, a[2 * t]));
            a[2 * t + 1] = _mm512_fmadd_ps(w0i, xr, _mm512_fmadd_ps(w0r, xi, a[2 * t + 1]));
            a[8 + 2 * t] = _mm512_fnmadd_ps(w1i, xi, _mm512_fmadd_ps(w1r, xr, a[8 + 2 * t]));
            a[9 + 2 * t] = _mm512_fmadd_ps(w1i, xr, _mm512_fmadd_ps(w1r, xi, a[9 + 2 * t]));
        }
    }
    for (int i = 0; i < 16; i++) _mm512_store_ps(y + 16 * i, a[i]);
}

int main(void) {
    const int shapes[][2] = {{1, 16}, {1, 64}, {2, 192}, {4, 192}, {13, 192}, {26, 192}};  // {BLOCKS, COUT}
    for (int s = 0; s < 6; s++) {
        int blocks = shapes[s][0], cout = shapes[s][1], cin = 64, tiles = 4;
        size_t wn = (size_t)blocks * cout * cin * 32, xn = (size_t)blocks * cin * tiles * 32, yn = (size_t)blocks * cout * tiles * 32;
        float *w = aligned_alloc(64, wn * 4), *x = aligned_alloc(64, xn * 4), *y = aligned_alloc(64, yn * 4);
        for (size_t i = 0; i < wn; i++) w[i] = (float)(i % 13) * 0.01f;
        for (size_t i = 0; i < xn; i++) x[i] = (float)(i % 7) * 0.1f;
        double best = 1e9;
        for (int r = 0; r < 300; r++) {
            double t0 = now();
            for (int b = 0; b < blocks; b++)
                for (int p = 0; p < cout / 2; p++)
                    products(cin, x + (size_t)b * cin * tiles * 32, tiles * 32, w + ((size_t)b * cout / 2 + p) * cin * 64,
                             y + ((size_t)b * cout + p * 2) * tiles * 32);
            double t = now() - t0;
            if (t < best) best = t;
        }
        double flops = 8.0 * blocks * 16 * cin * cout * tiles;
        printf("products: %5.1f MB of weights  %.3f ms  %6.1f GFLOP/s  %5.1f GB/s\n", wn * 4 / 1e6, best * 1e3, flops / best / 1e9,
               wn * 4 / best / 1e9);
        free(w); free(x); free(y);
    }
    for (size_t mb = 1; mb <= 128; mb *= 2) {
        size_t n = mb << 18;
        float *a = aligned_alloc(64, n * 4);
        for (size_t i = 0; i < n; i++) a[i] = (float)(i & 7);
        __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        double best = 1e9;
        for (int r = 0; r < (int)(2000 / mb) + 3; r++) {
            double t0 = now();
            for (size_t i = 0; i < n; i += 64) {
                s0 = _mm512_add_ps(s0, _mm512_load_ps(a + i)); s1 = _mm512_add_ps(s1, _mm512_load_ps(a + i + 16));
                s2 = _mm512_add_ps(s2, _mm512_load_ps(a + i + 32)); s3 = _mm512_add_ps(s3, _mm512_load_ps(a + i + 48));
            }
            double t = now() - t0;
            if (t < best) best = t;
        }
        float o[16];
        _mm512_storeu_ps(o, _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
        printf("read: %3zu MB  %6.1f GB/s  (%g)\n", mb, n * 4 / best / 1e9, o[0]);
        free(a);
    }
    return 0;
}
