// OpenBLAS's CBLAS interface (Debian: libopenblas-dev, pkg-config `openblas`).
#include <cblas.h>

// Thread control, declared by OpenBLAS's cblas.h as well; re-exported here for clarity.
static inline int uniseg_blas_num_threads(void) { return openblas_get_num_threads(); }
