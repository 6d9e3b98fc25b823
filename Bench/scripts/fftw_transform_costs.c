// FFTW's single-precision 2-D transforms per size, the numbers behind FFTTiling.pairTransformCost and the paired
// transforms of the FFT path (Docs/Algorithms.md, tenth session): for every FFT-friendly n in 4...64, one real
// plane's r2c, and one complex n×n transform (two real planes' worth), batches of 4, patient plans, best of 5.
//
//   cc -O2 Bench/scripts/fftw_transform_costs.c -o /tmp/fftw_costs -lfftw3f -lm && /tmp/fftw_costs
#include <fftw3.h>
#include <math.h>
#include <stdio.h>
#include <time.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static int friendly(int n) { for (int p = 2; p <= 7; p++) while (n % p == 0) n /= p; return n == 1; }

static double best_of(fftwf_plan p, int kind, float *in, float *out, int loops) {
    double best = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now();
        for (int i = 0; i < loops; i++) {
            if (kind == 0) fftwf_execute_dft_r2c(p, in, (fftwf_complex *)out);
            else fftwf_execute_dft(p, (fftwf_complex *)in, (fftwf_complex *)out);
        }
        double t = (now() - t0) / loops;
        if (t < best) best = t;
    }
    return best;
}

int main(void) {
    printf("n  r2c_us  c2c_us  c2c_per_real_plane_us  ns_per_point_log(c2c/2)\n");
    for (int n = 4; n <= 64; n++) {
        if (!friendly(n)) continue;
        int howmany = 4, dims[2] = {n, n}, nn = n * n, cd = (2 * nn + 15) / 16 * 16, rd = (nn + 15) / 16 * 16;
        float *a = fftwf_malloc(sizeof(float) * cd * howmany), *b = fftwf_malloc(sizeof(float) * cd * howmany);
        fftwf_plan r2c = fftwf_plan_many_dft_r2c(2, dims, howmany, a, NULL, 1, rd, (fftwf_complex *)b, NULL, 1, cd / 2, FFTW_PATIENT);
        fftwf_plan c2c = fftwf_plan_many_dft(2, dims, howmany, (fftwf_complex *)a, NULL, 1, cd / 2, (fftwf_complex *)b, NULL, 1,
                                             cd / 2, FFTW_FORWARD, FFTW_PATIENT | FFTW_DESTROY_INPUT);
        for (int i = 0; i < cd * howmany; i++) a[i] = (float)(i % 5);
        int loops = (int)(2e7 / (nn * log2(nn))) + 1;
        double tr = best_of(r2c, 0, a, b, loops) / howmany, tc = best_of(c2c, 1, a, b, loops) / howmany;
        printf("%2d  %.3f  %.3f  %.3f  %.4f\n", n, tr * 1e6, tc * 1e6, tc * 0.5e6, tc * 1e9 / (nn * log2(nn)) / 2);
        fftwf_destroy_plan(r2c); fftwf_destroy_plan(c2c); fftwf_free(a); fftwf_free(b);
    }
    return 0;
}
