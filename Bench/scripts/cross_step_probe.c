// What a step costs when it reads or overwrites what the other core wrote in the step before — the 2-vCPU hosts'
// "slow spells" (Docs/Design.md, "Threads") in one line. Two threads pinned to CPUs 0 and 1 run 2000 steps each
// (a spinning barrier, then out[i] = in[i] * a + b over half of a buffer, then in and out swap), four ways:
//   same         each thread always reads and writes the same half: nothing crosses between the cores;
//   both-cross   the halves alternate: each step reads what the other core just wrote and writes lines it holds;
//   read-cross   each thread writes its own half but reads the other's;
//   write-cross  each thread reads what it wrote itself, but writes lines the other core wrote two steps before.
// Prints µs per step for each, then a cache line's round trip between the two threads before and after.
// On the Zen 4 host kind (1 MB buffers, 2026-12-01): normal periods same ~15 µs, both-cross ~43, read-cross ~44,
// write-cross ~32; in a slow spell same ~15 still, both-cross 250–300, read-cross 250–300, write-cross 180–290 — a
// step's crossing data then moves at ~2 GB/s per core. `both-cross` above ~150 µs marks a spell.
//   cc -O3 -march=native -pthread -o /tmp/csp Bench/scripts/cross_step_probe.c && /tmp/csp [KB]   (default 1024)
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long floats;
static float *bufferA, *bufferB;
static int mode;
static const int steps = 2000;
static atomic_int arrived = 0, generation = 0;

static void barrier(void) {
  int g = atomic_load(&generation);
  if (atomic_fetch_add(&arrived, 1) == 1) { atomic_store(&arrived, 0); atomic_fetch_add(&generation, 1); }
  else { while (atomic_load(&generation) == g) {} }
}
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static void pin(int cpu) { cpu_set_t s; CPU_ZERO(&s); CPU_SET(cpu, &s); pthread_setaffinity_np(pthread_self(), sizeof s, &s); }

static void *stepper(void *arg) {
  int me = (int)(long)arg;
  pin(me);
  for (int s = 0; s < steps; s++) {
    const float *in = (s & 1) ? bufferB : bufferA;
    float *out = (s & 1) ? bufferA : bufferB;
    int written, read;  // which half this thread writes, and which it reads
    switch (mode) {
      case 0: written = me; read = me; break;
      case 1: written = me ^ (s & 1); read = written; break;
      case 2: written = me; read = me ^ 1; break;
      default: written = me ^ ((s >> 1) & 1); read = me ^ (((s - 1) >> 1) & 1); break;
    }
    long n = floats / 2;
    const float *x = in + read * n;
    float *y = out + written * n;
    barrier();
    for (long i = 0; i < n; i++) y[i] = x[i] * 0.999f + 0.001f;
  }
  barrier();
  return 0;
}

static double run(int m) {
  mode = m;
  pthread_t a, b;
  double t0 = now();
  pthread_create(&a, 0, stepper, (void *)0);
  pthread_create(&b, 0, stepper, (void *)1);
  pthread_join(a, 0);
  pthread_join(b, 0);
  return (now() - t0) / steps * 1e6;
}

#define BOUNCES 20000
static _Atomic long flag __attribute__((aligned(64)));
static void *bouncer(void *arg) {
  (void)arg;
  pin(1);
  for (long i = 1; i < 2 * BOUNCES; i += 2) {
    while (atomic_load_explicit(&flag, memory_order_acquire) != i) {}
    atomic_store_explicit(&flag, i + 1, memory_order_release);
  }
  return 0;
}
static double roundTrip(void) {
  flag = 0;
  pthread_t p;
  pin(0);
  pthread_create(&p, 0, bouncer, 0);
  double t0 = now();
  for (long i = 0; i < 2 * BOUNCES; i += 2) {
    atomic_store_explicit(&flag, i + 1, memory_order_release);
    while (atomic_load_explicit(&flag, memory_order_acquire) != i + 2) {}
  }
  double t = (now() - t0) / BOUNCES * 1e9;
  pthread_join(p, 0);
  return t;
}

int main(int argc, char **argv) {
  long kb = argc > 1 ? atol(argv[1]) : 1024;
  if (kb < 1) kb = 1024;
  floats = kb * 256;
  bufferA = aligned_alloc(64, floats * 4);
  bufferB = aligned_alloc(64, floats * 4);
  if (!bufferA || !bufferB) return 1;
  memset(bufferA, 0, floats * 4);
  memset(bufferB, 0, floats * 4);
  double r0 = roundTrip();
  double same = run(0), both = run(1), readCross = run(2), writeCross = run(3);
  double r1 = roundTrip();
  printf("%ld KB: same %.1f us/step, both-cross %.1f, read-cross %.1f, write-cross %.1f | round trip %.0f, %.0f ns\n",
         kb, same, both, readCross, writeCross, r0, r1);
  return 0;
}
