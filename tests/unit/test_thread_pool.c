/*
 * test_thread_pool: the engine's worker pool (thread_pool.h): every item of a
 * region runs exactly once, leases are exclusive, the size follows
 * emb_pool_set_threads, idle workers use no CPU, a polled region calls its
 * poll on the calling thread while it waits, and fork() leaves a child
 * that starts its own workers and computes the same vectors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "forward.h"
#include "ggml_types.h"
#include "thread_pool.h"
#include "tiny_model.h"

enum { N_ITEMS = 1000 };

typedef struct count_ctx {
    atomic_int hits[N_ITEMS];
    atomic_int max_thread;
    size_t lease_n;
    atomic_int bad_thread;
} count_ctx;

static void count_task(void *ctx, size_t item, size_t thread)
{
    count_ctx *c = ctx;
    atomic_fetch_add(&c->hits[item], 1);
    if (thread >= c->lease_n)
        atomic_store(&c->bad_thread, 1);
    int t = (int)thread;
    int seen = atomic_load(&c->max_thread);
    while (t > seen && !atomic_compare_exchange_weak(&c->max_thread, &seen, t))
        ;
    /* a little work so that several threads get items */
    volatile double x = 0;
    for (int i = 0; i < 2000; i++)
        x += i;
    if (x < 0)
        atomic_store(&c->bad_thread, 1);
}

static void set_threads(size_t n)
{
    emb_error err;
    assert_int_equal(emb_pool_set_threads(n, &err), EMB_OK);
}

static void test_every_item_once(void **state)
{
    (void)state;
    set_threads(3);
    emb_pool_lease lease = emb_pool_acquire(0);
    assert_true(lease.n >= 1 && lease.n <= 3);
    count_ctx *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->lease_n = lease.n;
    for (int round = 0; round < 20; round++) {
        emb_pool_run(&lease, lease.n, count_task, c, N_ITEMS);
        for (int i = 0; i < N_ITEMS; i++)
            assert_int_equal(atomic_load(&c->hits[i]), round + 1);
    }
    assert_int_equal(atomic_load(&c->bad_thread), 0);
    print_message("lease of %zu threads, highest thread seen %d\n", lease.n,
                  atomic_load(&c->max_thread));
    /* fewer threads than the lease, and zero items */
    emb_pool_run(&lease, 1, count_task, c, N_ITEMS);
    emb_pool_run(&lease, 2, count_task, c, 0);
    for (int i = 0; i < N_ITEMS; i++)
        assert_int_equal(atomic_load(&c->hits[i]), 21);
    emb_pool_release(&lease);
    assert_int_equal(lease.n, 1);
    free(c);
}

/* One lease at a time; the others run on their own thread. */
static void test_lease_is_exclusive(void **state)
{
    (void)state;
    set_threads(2);
    emb_pool_lease a = emb_pool_acquire(0);
    if (a.n < 2)
        skip(); /* no thread could be created: nothing to test */
    emb_pool_lease b = emb_pool_acquire(0);
    assert_int_equal(b.n, 1);
    assert_int_equal(b.owns_pool, 0);
    count_ctx *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->lease_n = 1;
    emb_pool_run(&b, 8, count_task, c, 50); /* runs inline as thread 0 */
    assert_int_equal(atomic_load(&c->max_thread), 0);
    emb_pool_release(&b);
    emb_pool_release(&a);
    emb_pool_lease again = emb_pool_acquire(0);
    assert_int_equal(again.n, 2);
    emb_pool_release(&again);
    free(c);
}

/* emb_pool_run_polled: while the calling thread waits for a worker's long
 * item it calls poll every EMB_POOL_POLL_MS, on itself only. The caller's
 * item waits until the worker has taken the other one, which then runs until
 * the caller has polled 3 times (at most 5 s: without polling the test
 * fails instead of hanging). */
typedef struct poll_ctx {
    pthread_t caller;
    atomic_int worker_started, polls, foreign_polls;
} poll_ctx;

static void slow_worker_task(void *ctx, size_t item, size_t thread)
{
    poll_ctx *p = ctx;
    (void)item;
    if (thread == 0) {
        for (int i = 0; i < 5000 && !atomic_load(&p->worker_started); i++)
            usleep(1000);
        return;
    }
    atomic_store(&p->worker_started, 1);
    for (int i = 0; i < 5000 && atomic_load(&p->polls) < 3; i++)
        usleep(1000);
}

static void count_poll(void *ctx)
{
    poll_ctx *p = ctx;
    atomic_fetch_add(&p->polls, 1);
    if (!pthread_equal(pthread_self(), p->caller))
        atomic_fetch_add(&p->foreign_polls, 1);
}

static void test_polled_region_polls_while_waiting(void **state)
{
    (void)state;
    set_threads(2);
    emb_pool_lease lease = emb_pool_acquire(0);
    if (lease.n < 2)
        skip();
    poll_ctx p = {.caller = pthread_self()};
    emb_pool_run_polled(&lease, 2, slow_worker_task, &p, 2, count_poll, &p);
    emb_pool_release(&lease);
    assert_true(atomic_load(&p.worker_started));
    assert_true(atomic_load(&p.polls) >= 3);
    assert_int_equal(atomic_load(&p.foreign_polls), 0);
}

/* The size follows the setter: workers start on demand and stop when the
 * size shrinks; a size of 1 needs no worker. */
static void test_size_and_errors(void **state)
{
    (void)state;
    emb_error err;
    assert_int_equal(emb_pool_set_threads(0, &err), EMB_ERR_RANGE);
    assert_string_equal(err.msg, "threads: 0 threads, expected 1 to 256");
    size_t d = emb_pool_default_threads();
    assert_true(d >= 1 && d <= EMB_POOL_DEFAULT_MAX);
    set_threads(4);
    emb_pool_lease l = emb_pool_acquire(0);
    emb_pool_release(&l);
    assert_int_equal(emb_pool_workers_running(), 3);
    set_threads(2);
    l = emb_pool_acquire(0);
    assert_int_equal(l.n, 2);
    emb_pool_release(&l);
    assert_int_equal(emb_pool_workers_running(), 1);
    set_threads(1);
    l = emb_pool_acquire(0);
    assert_int_equal(l.n, 1);
    emb_pool_release(&l);
    assert_int_equal(emb_pool_workers_running(), 0);
}

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Workers block between regions: 300 ms with 3 idle workers costs no CPU
 * (a spinning pool would burn ~0.9 s). */
static void test_idle_workers_use_no_cpu(void **state)
{
    (void)state;
    set_threads(4);
    emb_pool_lease l = emb_pool_acquire(0);
    count_ctx *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->lease_n = l.n;
    emb_pool_run(&l, l.n, count_task, c, N_ITEMS); /* wake them once */
    double before = cpu_seconds();
    struct timespec nap = {0, 300 * 1000 * 1000};
    nanosleep(&nap, NULL);
    double used = cpu_seconds() - before;
    print_message("CPU while idle for 300 ms with %zu workers: %.4f s\n", l.n - 1, used);
    assert_true(used < 0.05);
    emb_pool_release(&l);
    free(c);
}

static void forward_tiny(const emb_model *m, float *out, size_t threads)
{
    int32_t ids[40];
    for (int i = 0; i < 40; i++)
        ids[i] = 5 + (i * 13) % 50;
    emb_seq seqs[2] = {{ids, 25}, {ids + 25, 7}};
    emb_forward_cfg cfg = {.threads = threads, .split_work = 1};
    emb_error err;
    if (emb_forward(out, m, seqs, 2, EMB_POOLING_MEAN, &cfg, &err) != EMB_OK)
        fail_msg("%s", err.msg);
}

/* fork() after the pool ran: the child has no workers, starts its own on
 * its first forward and gets the parent's bytes; the parent carries on. */
static void test_fork_child_recreates_workers(void **state)
{
    (void)state;
    tiny_model_spec s = tiny_model_default(EMB_ARCH_NOMIC_BERT, GGML_TYPE_Q8_0);
    uint8_t *img = NULL;
    emb_error err;
    emb_model *m = tiny_model_load(&s, &img, &err);
    if (!m)
        fail_msg("%s", err.msg);
    set_threads(3);
    float parent[2 * 64], again[2 * 64];
    forward_tiny(m, parent, 3);
    assert_true(emb_pool_workers_running() >= 1);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int code = 0;
        if (emb_pool_workers_running() != 0)
            code = 2;
        float child[2 * 64];
        forward_tiny(m, child, 3);
        if (memcmp(child, parent, sizeof child) != 0)
            code = 3;
        if (emb_pool_workers_running() == 0)
            code = 4; /* it could not start any worker */
        _exit(code);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    forward_tiny(m, again, 3);
    assert_memory_equal(again, parent, sizeof again);
    emb_model_destroy(m);
    free(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_item_once),
        cmocka_unit_test(test_lease_is_exclusive),
        cmocka_unit_test(test_polled_region_polls_while_waiting),
        cmocka_unit_test(test_size_and_errors),
        cmocka_unit_test(test_idle_workers_use_no_cpu),
        cmocka_unit_test(test_fork_child_recreates_workers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
