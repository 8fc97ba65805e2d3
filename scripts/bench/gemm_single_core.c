// One core: the AVX-512 kernel (Sources/CGEMM) beside OpenBLAS cblas_sgemm on one shape, best of 8,
// with the largest difference between the two results. For tuning the kernel's block sizes:
//   clang -O2 scripts/bench/gemm_single_core.c Sources/CGEMM/gemm_avx512.c -ISources/CGEMM/include \
//       -lopenblas -o /tmp/gemm1 && OPENBLAS_CORETYPE=Haswell OPENBLAS_NUM_THREADS=1 /tmp/gemm1 M N K TRANSA TRANSB
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "uniseg_gemm.h"
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(int c,char**v){long m=atol(v[1]),n=atol(v[2]),k=atol(v[3]);int ta=atoi(v[4]),tb=atoi(v[5]);
float*a=malloc(4L*m*k),*b=malloc(4L*k*n),*cc=malloc(4L*m*n),*c2=malloc(4L*m*n);
for(long i=0;i<m*k;i++)a[i]=rand()/(float)RAND_MAX-0.5f; for(long i=0;i<k*n;i++)b[i]=rand()/(float)RAND_MAX-0.5f;
long lda=ta?m:k, ldb=tb?k:n;
double best=1e9,best2=1e9;
for(int r=0;r<8;r++){double t=now();cblas_sgemm(CblasRowMajor,ta?CblasTrans:CblasNoTrans,tb?CblasTrans:CblasNoTrans,m,n,k,1,a,lda,b,ldb,0,cc,n);t=now()-t;if(t<best)best=t;
t=now();uniseg_sgemm_avx512(ta,tb,m,n,k,1,a,lda,b,ldb,0,c2,n);t=now()-t;if(t<best2)best2=t;}
double md=0;for(long i=0;i<m*n;i++){double d=cc[i]-c2[i];if(d<0)d=-d;if(d>md)md=d;}
printf("%ldx%ldx%ld %d%d: openblas %.1f own %.1f GF/s  maxdiff %.2g\n",m,n,k,ta,tb,2.0*m*n*k/best/1e9,2.0*m*n*k/best2/1e9,md);}
