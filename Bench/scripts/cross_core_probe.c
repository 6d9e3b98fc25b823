// Cross-core read bandwidth: two threads pinned to CPUs 0 and 1 take turns writing a 1 MB buffer and reading
// what the other wrote (then reading it again, now local). On the 2-vCPU hosts of Docs/Networks.md the first figure
// drops from ~100 to ~40 GB/s in the "slow periods" in which 2-thread networks run 55-60% slower, while the second
// stays at ~120 GB/s. Then a cache line bounced between the two threads: its round trip, 55-76 ns on the Zen 4 host
// kind in normal periods, 328-360 ns in slow ones (the two vCPUs then apparently on different CCDs).
// Build and run: bash Bench/scripts/slow_period_probe.sh (or cc -O2 -pthread this file).
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <time.h>
#include <string.h>
#define N (1<<20)
#define ROUNDS 400
static float *buf; static volatile float sink;
static atomic_int count = 0; static atomic_int gen = 0;
static void barrier(void){ int g = atomic_load(&gen); if (atomic_fetch_add(&count,1)==1){ atomic_store(&count,0); atomic_fetch_add(&gen,1);} else { while(atomic_load(&gen)==g); } }
static double now(){struct timespec t; clock_gettime(CLOCK_MONOTONIC,&t); return t.tv_sec+t.tv_nsec*1e-9;}
static double tcross[2], tlocal[2];
#define BOUNCES 200000
static _Atomic long flag __attribute__((aligned(64)));
static void pin(int cpu){ cpu_set_t s; CPU_ZERO(&s); CPU_SET(cpu,&s); pthread_setaffinity_np(pthread_self(),sizeof s,&s); }
static void* bounce(void*arg){ (void)arg; pin(1);
  for(long i=1;i<2*BOUNCES;i+=2){ while(atomic_load_explicit(&flag,memory_order_acquire)!=i){} atomic_store_explicit(&flag,i+1,memory_order_release); }
  return 0;}
static void* run(void*arg){ int me=(int)(long)arg; cpu_set_t s; CPU_ZERO(&s); CPU_SET(me,&s); pthread_setaffinity_np(pthread_self(),sizeof s,&s);
  for(int r=0;r<ROUNDS;r++){ int writer=r&1;
    if(me==writer){ for(int i=0;i<N/4;i++) buf[i]=(float)(i+r); }
    barrier();
    if(me!=writer){ double t0=now(); float acc=0; for(int i=0;i<N/4;i+=16) acc+=buf[i]; double t1=now(); for(int i=0;i<N/4;i+=16) acc+=buf[i]; double t2=now(); sink=acc; tcross[me]+=t1-t0; tlocal[me]+=t2-t1; }
    barrier();
  }
  return 0;}
int main(){ buf=aligned_alloc(64,N); memset(buf,0,N); pthread_t a,b; pthread_create(&a,0,run,(void*)0); pthread_create(&b,0,run,(void*)1); pthread_join(a,0); pthread_join(b,0);
  double c=tcross[0]+tcross[1], l=tlocal[0]+tlocal[1]; int reads=ROUNDS;
  pthread_t p; pin(0); pthread_create(&p,0,bounce,0); double t0=now();
  for(long i=0;i<2*BOUNCES;i+=2){ atomic_store_explicit(&flag,i+1,memory_order_release); while(atomic_load_explicit(&flag,memory_order_acquire)!=i+2){} }
  double rt=(now()-t0)/BOUNCES; pthread_join(p,0);
  printf("1 MB written by the other core: %.1f GB/s; read again: %.1f GB/s; cache-line round trip %.0f ns\n",
         (double)N*reads/c/1e9, (double)N*reads/l/1e9, rt*1e9); return 0; }
