#include "cpu_features.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define EMB_X86 1
#endif

static emb_cpu_features g_features;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

#ifdef EMB_X86
/* XGETBV(0) as raw bytes: the intrinsic needs -mxsave, which this file must
 * not be compiled with (it runs on every CPU). Only called when CPUID says
 * OSXSAVE is set, so the instruction exists and is enabled. */
static unsigned long long read_xcr0(void)
{
    unsigned eax, edx;
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

static void detect(void)
{
    emb_cpu_features f;
    memset(&f, 0, sizeof f);
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d))
        goto end;
    unsigned max_leaf = a;
    memcpy(f.vendor + 0, &b, 4);
    memcpy(f.vendor + 4, &d, 4);
    memcpy(f.vendor + 8, &c, 4);
    f.vendor[12] = '\0';

    __cpuid(1, a, b, c, d);
    unsigned base_family = (a >> 8) & 0xf, base_model = (a >> 4) & 0xf;
    f.family = base_family == 0xf ? base_family + ((a >> 20) & 0xff) : base_family;
    f.model = (base_family == 0x6 || base_family == 0xf) ? base_model | (((a >> 16) & 0xf) << 4)
                                                         : base_model;
    f.sse3 = c & (1u << 0);
    f.ssse3 = c & (1u << 9);
    f.fma = c & (1u << 12);
    f.sse41 = c & (1u << 19);
    f.sse42 = c & (1u << 20);
    bool osxsave = c & (1u << 27);
    f.avx = c & (1u << 28);
    f.f16c = c & (1u << 29);

    if (osxsave) {
        unsigned long long xcr0 = read_xcr0();
        f.os_avx = (xcr0 & 0x6) == 0x6;       /* XMM | YMM                    */
        f.os_avx512 = (xcr0 & 0xe6) == 0xe6;  /* XMM | YMM | opmask | ZMM_Hi256 | Hi16_ZMM */
    }
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        f.avx2 = b & (1u << 5);
        f.avx512f = b & (1u << 16);
        f.avx512dq = b & (1u << 17);
        f.avx512cd = b & (1u << 28);
        f.avx512bw = b & (1u << 30);
        f.avx512vl = b & (1u << 31);
        unsigned max_sub = a;
        if (max_sub >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            f.avx512_bf16 = a & (1u << 5);
        }
    }
end:
    g_features = f;
}
#else
static void detect(void)
{
    memset(&g_features, 0, sizeof g_features);
}
#endif

const emb_cpu_features *emb_cpu_features_get(void)
{
    pthread_once(&g_once, detect);
    return &g_features;
}

bool emb_cpu_can_avx2(const emb_cpu_features *f)
{
    return f->os_avx && f->avx && f->avx2 && f->fma && f->f16c;
}

bool emb_cpu_can_avx512(const emb_cpu_features *f)
{
    return emb_cpu_can_avx2(f) && f->os_avx512 && f->avx512f && f->avx512bw && f->avx512vl &&
           f->avx512dq && f->avx512cd;
}
