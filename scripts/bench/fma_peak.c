// Peak FMA throughput of one core: 24 independent zmm (AVX-512) or 12 ymm (AVX2) multiply-add
// chains. The ceiling for any SGEMM kernel (docs/performance.md, "GEMM").
//   clang -O2 scripts/bench/fma_peak.c -o /tmp/fma_peak && /tmp/fma_peak
#include <immintrin.h>
#include <stdio.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
__attribute__((target("avx512f,fma"))) double z(long it){__m512 a[24];__m512 b=_mm512_set1_ps(1.0000001f),c=_mm512_set1_ps(1e-7f);
for(int i=0;i<24;i++)a[i]=_mm512_set1_ps(i);
double t=now();for(long r=0;r<it;r++){
#pragma clang loop unroll(full)
for(int i=0;i<24;i++)a[i]=_mm512_fmadd_ps(a[i],b,c);}
t=now()-t;float s=0;for(int i=0;i<24;i++)s+=_mm512_reduce_add_ps(a[i]);if(s==1)printf("x");return 24.0*32*it/t/1e9;}
__attribute__((target("avx2,fma"))) double y(long it){__m256 a[12];__m256 b=_mm256_set1_ps(1.0000001f),c=_mm256_set1_ps(1e-7f);
for(int i=0;i<12;i++)a[i]=_mm256_set1_ps(i);
double t=now();for(long r=0;r<it;r++){
#pragma clang loop unroll(full)
for(int i=0;i<12;i++)a[i]=_mm256_fmadd_ps(a[i],b,c);}
t=now()-t;float s=0;for(int i=0;i<12;i++){float q[8];_mm256_storeu_ps(q,a[i]);s+=q[0];}if(s==1)printf("x");return 12.0*16*it/t/1e9;}
int main(){for(int r=0;r<3;r++)printf("zmm %.1f GF/s  ymm %.1f GF/s\n",z(100000000),y(100000000));}
