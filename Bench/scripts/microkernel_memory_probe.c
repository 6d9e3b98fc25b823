// Where the 12x32 micro-kernel's input rows come from, and what it costs: the same loop (per k, two 16-float vector
// loads of B, twelve broadcasts of A, 24 FMAs into registers) timed four ways, in GFLOP/s and as a share of the FMA
// peak measured by the same program (24 independent FMA chains, no loads):
//   l1        one 12x256 A panel and one 256x32 B tile, both resident in L1, called over and over;
//   in-place  a 1x1 layer's shape (SqueezeNet's classifier: 1008 rows = 84 panels, K = 512, 6 tiles of 32 positions),
//             tile by tile, every panel reading the tile's input rows where they are: row k at k * PLANE floats
//             (169: 13x13, rows starting at every offset within a cache line), the results written with a ReLU;
//   packed    the same, each tile first copied into one contiguous K x 32 block that every panel then reads (the copy
//             is timed);
//   aligned   in place with PLANE rounded up to whole 16-float vectors (176).
// On the first Intel core measured here (Xeon, family 6 model 207, AVX-512, 2026-12-03; peak 189 GFLOP/s): l1 92%
// of the peak, in-place 76-78% (PLANE 169 or 196), packed 86-89%, aligned 87-90% — the loss of the library's 1x1
// layers read in place on odd planes (DirectImplementation.packsPointwiseTiles). The broadcasts must be loads: a
// splat built by arithmetic (0 + a[r]) compiles to a register broadcast, which Intel cores run on the FMA port 5
// (l1 then 46%). Portable C (GCC vector extensions, contracted to FMAs):
//   cc -O3 -march=native -ffp-contract=fast -o /tmp/mmp Bench/scripts/microkernel_memory_probe.c && /tmp/mmp [PLANE]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef float v16 __attribute__((vector_size(64), aligned(4)));
enum { MR = 12, NR = 32 };

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static inline v16 splat(float x) { return (v16){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }
static inline v16 load(const float *p) { v16 v; memcpy(&v, p, sizeof v); return v; }
static inline void store(float *p, v16 v) { memcpy(p, &v, sizeof v); }

// C[12 x 32] = relu(A-panel · B rows), row k of B at b + offsets[k].
__attribute__((noinline)) static void kernel(int kc, const float *a, const float *b, const long *offsets, float *c,
                                             long ldc) {
  v16 acc[2 * MR];
  for (int i = 0; i < 2 * MR; i++) acc[i] = (v16){0};
  for (int k = 0; k < kc; k++) {
    const float *row = b + offsets[k];
    v16 b0 = load(row), b1 = load(row + 16);
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++) {
      v16 ar = splat(a[r]);
      acc[2 * r] += ar * b0;
      acc[2 * r + 1] += ar * b1;
    }
    a += MR;
  }
  for (int r = 0; r < MR; r++) {
    for (int u = 0; u < 2; u++) {
      v16 v = acc[2 * r + u];
      for (int i = 0; i < 16; i++) v[i] = v[i] > 0 ? v[i] : 0;
      store(c + r * ldc + 16 * u, v);
    }
  }
}

__attribute__((noinline)) static float peak_chains(long n) {
  v16 acc[24], x = splat(1.0f), y = splat(1e-7f);
  for (int i = 0; i < 24; i++) acc[i] = splat((float)i);
  for (long i = 0; i < n; i++) {
#pragma GCC unroll 24
    for (int j = 0; j < 24; j++) acc[j] = acc[j] * x + y;
  }
  float s = 0;
  for (int i = 0; i < 24; i++) s += acc[i][0];
  return s;
}

int main(int argc, char **argv) {
  long plane = argc > 1 ? atol(argv[1]) : 169;
  const int K = 512, panels = 84, tiles = 6;
  long aligned = (plane + 15) / 16 * 16;
  float *a = aligned_alloc(64, (size_t)panels * MR * K * 4);
  float *b = aligned_alloc(64, ((size_t)K * aligned + 64) * 4);
  float *packed = aligned_alloc(64, (size_t)K * NR * 4);
  float *c = aligned_alloc(64, (size_t)panels * MR * aligned * 4 + 64 * 4);
  long *strided = malloc(K * sizeof(long)), *alignedRows = malloc(K * sizeof(long)), *contiguous = malloc(K * sizeof(long));
  for (long i = 0; i < (long)panels * MR * K; i++) a[i] = 1e-3f * (float)(i % 7);
  for (long i = 0; i < (long)K * aligned + 64; i++) b[i] = 1e-3f * (float)(i % 5);
  for (int k = 0; k < K; k++) { strided[k] = k * plane; alignedRows[k] = k * aligned; contiguous[k] = k * NR; }

  double best = 1e9;
  for (int r = 0; r < 5; r++) {
    double t0 = now();
    float s = peak_chains(2000000);
    double t = now() - t0;
    if (t < best) best = t;
    if (s == 12345) puts("");
  }
  double peak = 2.0 * 16 * 24 * 2000000 / best / 1e9;
  printf("FMA peak (24 chains): %.1f GFLOP/s\n", peak);

  const char *names[] = {"l1", "in-place", "packed", "aligned"};
  for (int mode = 0; mode < 4; mode++) {
    best = 1e9;
    int reps = mode == 0 ? 20000 : 50;
    for (int round = 0; round < 5; round++) {
      double t0 = now();
      for (int rep = 0; rep < reps; rep++) {
        if (mode == 0) { kernel(256, a, packed, contiguous, c, NR); continue; }
        for (int t = 0; t < tiles; t++) {
          const float *src = b + t * NR;
          const long *offsets = mode == 3 ? alignedRows : strided;
          if (mode == 2) {
            for (int k = 0; k < K; k++) memcpy(packed + k * NR, src + strided[k], NR * 4);
            src = packed;
            offsets = contiguous;
          }
          for (int p = 0; p < panels; p++) kernel(K, a + (long)p * MR * K, src, offsets, c + (long)p * MR * aligned + t * NR, aligned);
        }
      }
      double t = (now() - t0) / reps;
      if (t < best) best = t;
    }
    double flops = mode == 0 ? 2.0 * MR * NR * 256 : 2.0 * panels * MR * tiles * NR * K;
    printf("%-9s %8.3f us  %6.1f GFLOP/s  %3.0f%% of the peak\n", names[mode], best * 1e6, flops / best / 1e9,
           100 * flops / best / 1e9 / peak);
  }
  return 0;
}
