// A C model of F(4x4)'s input stage on one chunk (64 channels, 56² plane, 4 tile rows of 14 tiles, one 16-lane vector
// a tile row): the shim's row split (`fftconv_split_row4`) into a ring of six phase rows, then the two passes of
// `inputF4` through a staging buffer into V's 36 matrices — what `WinogradKernels.transformInputF4` does, written
// in C to time its parts apart from Swift (twenty-second session, Docs/Kernels.md). Prints cycles per (channel,
// tile row) at 3.7 GHz. Needs AVX-512 (16-float vectors) and clang ≥ 17 (`__builtin_elementwise_fma`):
//
//   clang -O2 -march=native -ISources/CFFTConvShim/include Bench/scripts/winograd_f4_input_model.c -o /tmp/f4in && /tmp/f4in
#include "fftconv_shim.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
typedef fftconv_f16 V;
#define FMA(a,b,c) __builtin_elementwise_fma(a,b,c)
static inline void inputF4(V d0,V d1,V d2,V d3,V d4,V d5,V*w){
  V four=4, m5=-5, two=2, m4=-4;
  w[0]=FMA(four,d0,FMA(m5,d2,d4));
  w[1]=FMA(m4,d1+d2,d3+d4);
  w[2]=FMA(four,d1-d2,d4-d3);
  w[3]=FMA(two,d3-d1,d4-d2);
  w[4]=FMA(two,d1-d3,d4-d2);
  w[5]=FMA(four,d1,FMA(m5,d3,d5));
}
static inline V ld(const float*p){V v; memcpy(&v,p,64); return v;}
static inline void st(V v,float*p){memcpy(p,&v,64);}
int main(int argc,char**argv){
  long C=64,H=56,W=56,pl=32,tpr=14,tileRows=4,cols=56,rowStride=72; long ms=C*rowStride+16*17; // odd-ish
  float *in=aligned_alloc(64,4*C*H*W+4096); for(long i=0;i<C*H*W;i++) in[i]=(i%13)*0.1f;
  float *ph=aligned_alloc(64,4*6*4*pl*4+4096), *work=aligned_alloc(64,4096), *tmp=aligned_alloc(64,36*16*4);
  float *v=aligned_alloc(64,4*36*ms+4096);
  int reps=2000; double t0=now();
  for(int rep=0;rep<reps;rep++){
   for(long c=0;c<C;c++){ const float*plane=in+c*H*W; int rot=0;
    for(long tr=0;tr<tileRows;tr++){
      int first = tr==0;
      if(!first) rot=(rot+4)%6;
      for(int r= first?0:2; r<6; r++){ long y=tr*4-1+r; fftconv_split_row4(plane,y,H,W,1,ph+((rot+r)%6)*4*pl,pl,work); }
      for(long t=0;t<16;t+=16){
        for(int r=0;r<6;r++){ const float*p=ph+((rot+r)%6)*4*pl+t; V w[6];
          inputF4(ld(p),ld(p+pl),ld(p+2*pl),ld(p+3*pl),ld(p+1),ld(p+pl+1),w);
          for(int k=0;k<6;k++) st(w[k],tmp+(r*6+k)*16); }
        float*dst=v+c*rowStride+tr*tpr+t;
        for(int nu=0;nu<6;nu++){ const float*q=tmp+nu*16; V x[6];
          inputF4(ld(q),ld(q+96),ld(q+192),ld(q+288),ld(q+384),ld(q+480),x);
          for(int k=0;k<6;k++) st(x[k],dst+(k*6+nu)*ms); }
      }
    }
   }
  }
  double t=now()-t0; long n=(long)reps*C*tileRows;
  printf("per (channel, tile row): %.1f ns = %.0f cycles; %f\n", t/n*1e9, t/n*3.7e9, v[100]);
}
