// Processes: the MPI calls data-parallel training needs, behind plain C types so Swift never sees
// an MPI type. Built without CK_WITH_MPI (Package.swift defines it when it finds Open MPI), every
// function acts on a group of one process.
#include "CKernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef CK_WITH_MPI
#include <mpi.h>
#endif

// Our own error codes are negative; MPI's are positive (MPI_SUCCESS is 0).
enum {
    CK_MPI_ERR_THREAD = -1,      // MPI cannot give MPI_THREAD_SERIALIZED
    CK_MPI_ERR_FINALIZED = -2,   // a collective after ck_mpi_finalize
    CK_MPI_ERR_NO_MEMORY = -3,   // the per-rank count arrays could not be allocated
    CK_MPI_ERR_TIMEOUT = -4,     // a collective did not complete within the timeout
};

// Vectors go out in chunks of at most this many elements, so every MPI count and displacement
// fits in an int whatever n is.
#define CK_MPI_CHUNK ((size_t)1 << 28)

static int state_initialized = 0, state_finalized = 0;
static int state_rank = 0, state_size = 1;
static double state_timeout = 0;

void ck_mpi_set_timeout(double seconds) { state_timeout = seconds > 0 ? seconds : 0; }

int ck_mpi_available(void) {
#ifdef CK_WITH_MPI
    return 1;
#else
    return 0;
#endif
}

// Open MPI's mpirun exports OMPI_COMM_WORLD_SIZE to every rank; MPICH's Hydra and Slurm's PMI
// export PMI_SIZE. A plain run has neither, so it never initialises MPI.
int ck_mpi_launched(void) {
    const char *names[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *value = getenv(names[i]);
        if (!value || !*value) continue;
        char *end;
        long n = strtol(value, &end, 10);
        if (*end == '\0' && n >= 1 && n <= 1 << 30) return (int)n;
    }
    return 0;
}

int ck_mpi_rank(void) { return state_rank; }
int ck_mpi_size(void) { return state_size; }

void ck_mpi_error_string(int code, char *text, size_t len) {
    if (len == 0) return;
    const char *ours = NULL;
    switch (code) {
    case 0: ours = "success"; break;
    case CK_MPI_ERR_THREAD: ours = "MPI does not provide MPI_THREAD_SERIALIZED"; break;
    case CK_MPI_ERR_FINALIZED: ours = "MPI has already been finalized"; break;
    case CK_MPI_ERR_NO_MEMORY: ours = "out of memory for the per-rank count arrays"; break;
    case CK_MPI_ERR_TIMEOUT: ours = "timed out waiting for the other processes"; break;
    }
#ifdef CK_WITH_MPI
    if (!ours) {
        char message[MPI_MAX_ERROR_STRING];
        int n = 0;
        if (MPI_Error_string(code, message, &n) == MPI_SUCCESS) {
            snprintf(text, len, "%.*s", n, message);
            return;
        }
    }
#endif
    snprintf(text, len, "%s", ours ? ours : "unknown error");
}

#ifdef CK_WITH_MPI

// Per rank r: the start and length of the slice it owns, and the receive counts and
// displacements of the P contributions to this rank's slice. Allocated once, at initialisation.
static int *slice_start, *slice_len, *recv_len, *recv_at;

int ck_mpi_init(void) {
    if (state_initialized || !ck_mpi_launched()) return 0;
    int already = 0, provided = 0, err;
    MPI_Initialized(&already);
    if (!already) {
        // Errors in MPI_Init itself are fatal whatever the handler: nothing to return from.
        err = MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided);
        if (err != MPI_SUCCESS) return err;
    } else {
        MPI_Query_thread(&provided);
    }
    // From here on, a failed call returns its code to us instead of aborting the job.
    if ((err = MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN)) != MPI_SUCCESS) return err;
    if (provided < MPI_THREAD_SERIALIZED) return CK_MPI_ERR_THREAD;
    if ((err = MPI_Comm_rank(MPI_COMM_WORLD, &state_rank)) != MPI_SUCCESS) return err;
    if ((err = MPI_Comm_size(MPI_COMM_WORLD, &state_size)) != MPI_SUCCESS) return err;
    int *counts = malloc(4 * (size_t)state_size * sizeof(int));
    if (!counts) return CK_MPI_ERR_NO_MEMORY;
    slice_start = counts;
    slice_len = counts + state_size;
    recv_len = counts + 2 * (size_t)state_size;
    recv_at = counts + 3 * (size_t)state_size;
    state_initialized = 1;
    return 0;
}

int ck_mpi_finalize(void) {
    if (!state_initialized || state_finalized) return 0;
    state_finalized = 1;
    free(slice_start);
    slice_start = slice_len = recv_len = recv_at = NULL;
    return MPI_Finalize();
}

void ck_mpi_abort(int code) {
    if (state_initialized && !state_finalized) MPI_Abort(MPI_COMM_WORLD, code);
}

// With a timeout, every collective is started non-blocking and waited for here, so that a rank
// whose peer has died or hangs returns an error instead of waiting forever. On a timeout the
// request stays pending: the caller can only abort. Without one, the blocking collectives run:
// Open MPI tunes those (coll/tuned), while the non-blocking ones take libnbc's linear schedules.
static int wait_for(MPI_Request *request) {
    const double deadline = MPI_Wtime() + state_timeout;
    for (;;) {
        int done = 0, err = MPI_Test(request, &done, MPI_STATUS_IGNORE);
        if (err != MPI_SUCCESS) return err;
        if (done) return 0;
        if (MPI_Wtime() > deadline) return CK_MPI_ERR_TIMEOUT;
    }
}

// 0 when the call should communicate, CK_MPI_ERR_FINALIZED when it cannot, 1 when a group of
// one has nothing to do.
static int single_or_finalized(void) {
    if (state_finalized) return CK_MPI_ERR_FINALIZED;
    return (!state_initialized || state_size == 1) ? 1 : 0;
}

int ck_mpi_barrier(void) {
    int s = single_or_finalized();
    if (s) return s == 1 ? 0 : s;
    if (state_timeout == 0) return MPI_Barrier(MPI_COMM_WORLD);
    MPI_Request request;
    int err = MPI_Ibarrier(MPI_COMM_WORLD, &request);
    return err != MPI_SUCCESS ? err : wait_for(&request);
}

static int broadcast(void *x, size_t n, size_t element, MPI_Datatype type) {
    int s = single_or_finalized();
    if (s) return s == 1 ? 0 : s;
    for (size_t at = 0; at < n; at += CK_MPI_CHUNK) {
        size_t m = n - at < CK_MPI_CHUNK ? n - at : CK_MPI_CHUNK;
        void *chunk = (char *)x + at * element;
        MPI_Request request;
        int err = state_timeout == 0 ? MPI_Bcast(chunk, (int)m, type, 0, MPI_COMM_WORLD)
                                     : MPI_Ibcast(chunk, (int)m, type, 0, MPI_COMM_WORLD, &request);
        if (err == MPI_SUCCESS && state_timeout > 0) err = wait_for(&request);
        if (err != MPI_SUCCESS) return err;
    }
    return 0;
}

int ck_mpi_broadcast_floats(float *x, size_t n) { return broadcast(x, n, sizeof(float), MPI_FLOAT); }
int ck_mpi_broadcast_bytes(void *x, size_t n) { return broadcast(x, n, 1, MPI_BYTE); }

size_t ck_mpi_sum_work_size(size_t n) {
    if (!state_initialized || state_size == 1) return 0;
    size_t m = n < CK_MPI_CHUNK ? n : CK_MPI_CHUNK, P = (size_t)state_size;
    return P * (m / P + (m % P != 0));
}

// dest (n) = part 0 + part 1 + … + part P-1, in that order; part r is parts[r·n .. r·n+n).
#define DEFINE_SUM_IN_RANK_ORDER(name, T)                                                   \
    static void name(T *restrict dest, const T *restrict parts, size_t n, int P) {          \
        for (size_t i = 0; i < n; i++) dest[i] = parts[i];                                  \
        for (int r = 1; r < P; r++) {                                                       \
            const T *part = parts + (size_t)r * n;                                          \
            for (size_t i = 0; i < n; i++) dest[i] += part[i];                              \
        }                                                                                   \
    }
DEFINE_SUM_IN_RANK_ORDER(sum_floats, float)
DEFINE_SUM_IN_RANK_ORDER(sum_doubles, double)
DEFINE_SUM_IN_RANK_ORDER(sum_ints, uint64_t)  // int64 counts added as unsigned: wrap-around, not undefined overflow

typedef enum { KIND_FLOAT, KIND_DOUBLE, KIND_INT } kind;

// One chunk (n ≤ CK_MPI_CHUNK): reduce-scatter by fixed-order sum, then allgather of the slices.
static int allreduce_chunk(void *x, void *work, size_t n, kind k) {
    const int P = state_size, me = state_rank;
    const size_t element = k == KIND_FLOAT ? sizeof(float) : k == KIND_DOUBLE ? sizeof(double) : sizeof(int64_t);
    const MPI_Datatype type = k == KIND_FLOAT ? MPI_FLOAT : k == KIND_DOUBLE ? MPI_DOUBLE : MPI_INT64_T;
    const size_t base = n / (size_t)P, extra = n % (size_t)P;
    for (int r = 0; r < P; r++) {
        slice_start[r] = (int)(base * (size_t)r + ((size_t)r < extra ? (size_t)r : extra));
        slice_len[r] = (int)(base + ((size_t)r < extra));
    }
    const int mine = slice_len[me];
    for (int r = 0; r < P; r++) {
        recv_len[r] = mine;
        recv_at[r] = r * mine;
    }
    // Rank r's slice of every rank's x lands, in rank order, in rank r's work.
    MPI_Request request;
    int err = state_timeout == 0
        ? MPI_Alltoallv(x, slice_len, slice_start, type, work, recv_len, recv_at, type, MPI_COMM_WORLD)
        : MPI_Ialltoallv(x, slice_len, slice_start, type, work, recv_len, recv_at, type, MPI_COMM_WORLD, &request);
    if (err == MPI_SUCCESS && state_timeout > 0) err = wait_for(&request);
    if (err != MPI_SUCCESS) return err;
    char *dest = (char *)x + (size_t)slice_start[me] * element;
    switch (k) {
    case KIND_FLOAT: sum_floats((float *)dest, work, (size_t)mine, P); break;
    case KIND_DOUBLE: sum_doubles((double *)dest, work, (size_t)mine, P); break;
    case KIND_INT: sum_ints((uint64_t *)dest, work, (size_t)mine, P); break;
    }
    if (state_timeout == 0) return MPI_Allgatherv(MPI_IN_PLACE, 0, type, x, slice_len, slice_start, type, MPI_COMM_WORLD);
    err = MPI_Iallgatherv(MPI_IN_PLACE, 0, type, x, slice_len, slice_start, type, MPI_COMM_WORLD, &request);
    return err != MPI_SUCCESS ? err : wait_for(&request);
}

static int allreduce(void *x, void *work, size_t n, kind k) {
    int s = single_or_finalized();
    if (s) return s == 1 ? 0 : s;
    const size_t element = k == KIND_FLOAT ? sizeof(float) : k == KIND_DOUBLE ? sizeof(double) : sizeof(int64_t);
    for (size_t at = 0; at < n; at += CK_MPI_CHUNK) {
        size_t m = n - at < CK_MPI_CHUNK ? n - at : CK_MPI_CHUNK;
        int err = allreduce_chunk((char *)x + at * element, work, m, k);
        if (err != MPI_SUCCESS) return err;
    }
    return 0;
}

#else  // a group of one

int ck_mpi_init(void) { return 0; }
int ck_mpi_finalize(void) { return 0; }
void ck_mpi_abort(int code) { (void)code; }
int ck_mpi_barrier(void) { return 0; }
int ck_mpi_broadcast_floats(float *x, size_t n) { (void)x; (void)n; return 0; }
int ck_mpi_broadcast_bytes(void *x, size_t n) { (void)x; (void)n; return 0; }
size_t ck_mpi_sum_work_size(size_t n) { (void)n; return 0; }

typedef enum { KIND_FLOAT, KIND_DOUBLE, KIND_INT } kind;
static int allreduce(void *x, void *work, size_t n, kind k) { (void)x; (void)work; (void)n; (void)k; return 0; }

#endif

int ck_mpi_allreduce_sum_floats(float *x, float *work, size_t n) { return allreduce(x, work, n, KIND_FLOAT); }
int ck_mpi_allreduce_sum_doubles(double *x, double *work, size_t n) { return allreduce(x, work, n, KIND_DOUBLE); }
int ck_mpi_allreduce_sum_ints(int64_t *x, int64_t *work, size_t n) { return allreduce(x, work, n, KIND_INT); }
