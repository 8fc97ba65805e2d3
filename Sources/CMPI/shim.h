// Open MPI for Swift: Swift cannot import MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM or MPI_IN_PLACE (they
// are macros over library globals), so the handful of calls the trainer needs are static inline
// functions here, and MPI's own types stay on this side (MPICH would need only a rebuild).
// Every call works on MPI_COMM_WORLD; errors abort the job (MPI's default handler).
#include <mpi.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>

// Initialises MPI once (thread level FUNNELED: only the main thread calls MPI). 0 on success.
static inline int uniseg_mpi_init(void) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (initialized) return 0;
    int provided = 0;
    return MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
}

static inline int uniseg_mpi_finalize(void) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    return finalized ? 0 : MPI_Finalize();
}

static inline int uniseg_mpi_rank(void) { int r = 0; MPI_Comm_rank(MPI_COMM_WORLD, &r); return r; }
static inline int uniseg_mpi_size(void) { int s = 1; MPI_Comm_size(MPI_COMM_WORLD, &s); return s; }
static inline int uniseg_mpi_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }
static inline void uniseg_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

// In-place all-reduce of `count` values, in pieces of at most INT_MAX (MPI counts are int).
static inline int uniseg_mpi_allreduce_float_sum(float *data, int64_t count) {
    for (int64_t at = 0; at < count; at += INT_MAX) {
        int n = (int)(count - at < INT_MAX ? count - at : INT_MAX);
        int rc = MPI_Allreduce(MPI_IN_PLACE, data + at, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return rc;
    }
    return MPI_SUCCESS;
}

static inline int uniseg_mpi_allreduce_double(double *data, int64_t count, int maximum) {
    for (int64_t at = 0; at < count; at += INT_MAX) {
        int n = (int)(count - at < INT_MAX ? count - at : INT_MAX);
        int rc = MPI_Allreduce(MPI_IN_PLACE, data + at, n, MPI_DOUBLE, maximum ? MPI_MAX : MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return rc;
    }
    return MPI_SUCCESS;
}

// Broadcast of `bytes` bytes from `root`, in pieces of at most INT_MAX.
static inline int uniseg_mpi_broadcast(void *data, int64_t bytes, int root) {
    for (int64_t at = 0; at < bytes; at += INT_MAX) {
        int n = (int)(bytes - at < INT_MAX ? bytes - at : INT_MAX);
        int rc = MPI_Bcast((char *)data + at, n, MPI_BYTE, root, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return rc;
    }
    return MPI_SUCCESS;
}

// Gathers every rank's `bytes` at rank 0: `sizes` (size entries, rank 0 only) gets each rank's
// byte count. Call twice: first with `out` NULL to learn the sizes, then with `out` holding
// their sum (at most INT_MAX in all).
static inline int uniseg_mpi_gather_sizes(int64_t bytes, int64_t *sizes) {
    return MPI_Gather(&bytes, 1, MPI_INT64_T, sizes, 1, MPI_INT64_T, 0, MPI_COMM_WORLD);
}

static inline int uniseg_mpi_gather_bytes(const void *data, int bytes, void *out, const int *counts, const int *displacements) {
    return MPI_Gatherv(data, bytes, MPI_BYTE, out, counts, displacements, MPI_BYTE, 0, MPI_COMM_WORLD);
}
