#include "map_guard.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* More live models than this in one process is unusual; beyond it ranges are
 * simply unguarded. */
#define GUARD_SLOTS 256

typedef struct guard_slot {
    atomic_uintptr_t start; /* 0 = free */
    atomic_uintptr_t end;
    atomic_int faulted;
} guard_slot;

static guard_slot g_slots[GUARD_SLOTS];
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER; /* add/remove only, never the handler */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static struct sigaction g_previous;
static atomic_bool g_installed;
static uintptr_t g_page_size;

static void chain(int sig, siginfo_t *si, void *uctx)
{
    if (g_previous.sa_flags & SA_SIGINFO) {
        if (g_previous.sa_sigaction) {
            g_previous.sa_sigaction(sig, si, uctx);
            return;
        }
    } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
        g_previous.sa_handler(sig);
        return;
    }
    /* Default action: a fault re-executes and ends the process as it would
     * have without us; a SIGBUS sent with kill() is raised again (it stays
     * pending until this handler returns). An ignored kill() stays ignored. */
    if (si->si_code <= 0 && g_previous.sa_handler == SIG_IGN)
        return;
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGBUS, &dfl, NULL);
    if (si->si_code <= 0)
        raise(SIGBUS);
}

static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
    int saved_errno = errno;
    uintptr_t a = (uintptr_t)si->si_addr;
    if (si->si_code > 0) { /* raised by the kernel for a memory access */
        for (size_t i = 0; i < GUARD_SLOTS; i++) {
            uintptr_t start = atomic_load(&g_slots[i].start);
            if (!start || a < start || a >= atomic_load(&g_slots[i].end))
                continue;
            /* mmap is a plain system call (async-signal-safe on Linux). */
            void *page = (void *)(a & ~(g_page_size - 1));
            if (mmap(page, (size_t)g_page_size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) !=
                MAP_FAILED) {
                atomic_store(&g_slots[i].faulted, 1);
                errno = saved_errno;
                return;
            }
            break;
        }
    }
    errno = saved_errno;
    chain(sig, si, uctx);
}

/* A fork while another thread adds or removes a range must not leave the
 * child's table locked. */
static void fork_prepare(void) { pthread_mutex_lock(&g_lock); }
static void fork_release(void) { pthread_mutex_unlock(&g_lock); }

static void install(void)
{
    pthread_atfork(fork_prepare, fork_release, fork_release);
    long ps = sysconf(_SC_PAGESIZE);
    if (ps <= 0)
        return;
    g_page_size = (uintptr_t)ps;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, &g_previous) == 0)
        atomic_store(&g_installed, true);
}

bool emb_map_guard_active(void)
{
    if (!atomic_load(&g_installed))
        return false;
    struct sigaction cur;
    if (sigaction(SIGBUS, NULL, &cur) != 0)
        return false;
    return (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_sigbus;
}

int emb_map_guard_add(const void *base, size_t len)
{
    if (!base || !len)
        return -1;
    pthread_once(&g_once, install);
    if (!atomic_load(&g_installed))
        return -1;
    int slot = -1;
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < GUARD_SLOTS; i++) {
        if (atomic_load(&g_slots[i].start) == 0) {
            atomic_store(&g_slots[i].faulted, 0);
            atomic_store(&g_slots[i].end, (uintptr_t)base + len);
            atomic_store(&g_slots[i].start, (uintptr_t)base);
            slot = i;
            break;
        }
    }
    pthread_mutex_unlock(&g_lock);
    return slot;
}

void emb_map_guard_remove(int slot)
{
    if (slot < 0 || slot >= GUARD_SLOTS)
        return;
    pthread_mutex_lock(&g_lock);
    atomic_store(&g_slots[slot].start, 0);
    atomic_store(&g_slots[slot].end, 0);
    pthread_mutex_unlock(&g_lock);
}

bool emb_map_guard_faulted(int slot)
{
    if (slot < 0 || slot >= GUARD_SLOTS)
        return false;
    return atomic_load(&g_slots[slot].faulted) != 0;
}

/* The handler's code goes away with the library: give SIGBUS back to whoever
 * had it, unless someone replaced ours since (then it is theirs already). */
__attribute__((destructor)) static void map_guard_uninstall(void)
{
    if (emb_map_guard_active())
        sigaction(SIGBUS, &g_previous, NULL);
}
