#include "unicode.h"

#include "unicode_data.h"

#include <string.h>

_Static_assert(sizeof emb_uc_stage1 == (0x110000 >> 8), "stage 1 covers all planes");

enum {
    HANGUL_S_BASE = 0xAC00,
    HANGUL_L_BASE = 0x1100,
    HANGUL_V_BASE = 0x1161,
    HANGUL_T_BASE = 0x11A7,
    HANGUL_T_COUNT = 28,
    HANGUL_N_COUNT = 21 * 28,
    HANGUL_S_COUNT = 19 * 21 * 28
};

uint8_t emb_uc_flags(uint32_t cp)
{
    if (cp >= 0x110000)
        return EMB_UC_DROP;
    return emb_uc_stage2[emb_uc_stage1[cp >> 8]][cp & 0xFF];
}

uint8_t emb_uc_ccc(uint32_t cp)
{
    size_t lo = 0, hi = emb_uc_ccc_ranges_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < emb_uc_ccc_ranges[mid].first)
            hi = mid;
        else if (cp > emb_uc_ccc_ranges[mid].last)
            lo = mid + 1;
        else
            return emb_uc_ccc_ranges[mid].ccc;
    }
    return 0;
}

/* Row of a sorted emb_uc_map for cp, or NULL. */
static const emb_uc_map *map_find(const emb_uc_map *map, size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < map[mid].cp)
            hi = mid;
        else if (cp > map[mid].cp)
            lo = mid + 1;
        else
            return &map[mid];
    }
    return NULL;
}

size_t emb_uc_nfd(uint32_t cp, uint32_t out[EMB_UC_MAX_NFD])
{
    if (cp >= HANGUL_S_BASE && cp < HANGUL_S_BASE + HANGUL_S_COUNT) {
        uint32_t s = cp - HANGUL_S_BASE;
        out[0] = HANGUL_L_BASE + s / HANGUL_N_COUNT;
        out[1] = HANGUL_V_BASE + (s % HANGUL_N_COUNT) / HANGUL_T_COUNT;
        if (s % HANGUL_T_COUNT == 0)
            return 2;
        out[2] = HANGUL_T_BASE + s % HANGUL_T_COUNT;
        return 3;
    }
    const emb_uc_map *m = map_find(emb_uc_nfd_map, emb_uc_nfd_map_n, cp);
    if (!m || m->len > EMB_UC_MAX_NFD) {
        out[0] = cp;
        return 1;
    }
    memcpy(out, &emb_uc_nfd_pool[m->off], m->len * sizeof out[0]);
    return m->len;
}

size_t emb_uc_lower(uint32_t cp, uint32_t out[EMB_UC_MAX_LOWER])
{
    const emb_uc_map *m = map_find(emb_uc_lower_map, emb_uc_lower_map_n, cp);
    if (!m || m->len > EMB_UC_MAX_LOWER) {
        out[0] = cp;
        return 1;
    }
    memcpy(out, &emb_uc_lower_pool[m->off], m->len * sizeof out[0]);
    return m->len;
}

static int is_cont(uint8_t b)
{
    return (b & 0xC0) == 0x80;
}

size_t emb_utf8_decode(const uint8_t *s, size_t len, uint32_t *cp)
{
    uint8_t b0 = s[0];
    *cp = EMB_UC_INVALID;
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        if (len < 2 || !is_cont(s[1]))
            return 1;
        *cp = ((uint32_t)(b0 & 0x1F) << 6) | (s[1] & 0x3F);
        return 2;
    }
    if (b0 >= 0xE0 && b0 <= 0xEF) {
        /* Second-byte ranges exclude overlongs (E0) and surrogates (ED). */
        uint8_t lo = b0 == 0xE0 ? 0xA0 : 0x80;
        uint8_t hi = b0 == 0xED ? 0x9F : 0xBF;
        if (len < 3 || s[1] < lo || s[1] > hi || !is_cont(s[2]))
            return 1;
        *cp = ((uint32_t)(b0 & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        return 3;
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
        /* Overlongs (F0) and code points above U+10FFFF (F4). */
        uint8_t lo = b0 == 0xF0 ? 0x90 : 0x80;
        uint8_t hi = b0 == 0xF4 ? 0x8F : 0xBF;
        if (len < 4 || s[1] < lo || s[1] > hi || !is_cont(s[2]) || !is_cont(s[3]))
            return 1;
        *cp = ((uint32_t)(b0 & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12)
            | ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
        return 4;
    }
    return 1; /* continuation byte, C0, C1, F5..FF */
}

size_t emb_utf8_encode(uint32_t cp, uint8_t out[4])
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}
