/*
 * unicode_data: the generated tables behind unicode.h (internal to unicode.c).
 *
 * src/unicode_data.c is written by tools/gen_unicode_tables.py; see there for
 * where each table comes from. Everything here is immutable data.
 */
#ifndef EMB_UNICODE_DATA_H
#define EMB_UNICODE_DATA_H

#include <stddef.h>
#include <stdint.h>

/* Code points [first, last] share one nonzero canonical combining class. */
typedef struct emb_uc_ccc_range {
    uint32_t first;
    uint32_t last;
    uint8_t ccc;
} emb_uc_ccc_range;

/* cp maps to pool[off .. off + len). Rows sorted by cp. */
typedef struct emb_uc_map {
    uint32_t cp;
    uint16_t off;
    uint8_t len;
} emb_uc_map;

extern const char emb_unicode_version[];
extern const char emb_unicode_tokenizers_version[];

/* Flags of code point cp: emb_uc_stage2[emb_uc_stage1[cp >> 8]][cp & 0xFF]. */
extern const uint8_t emb_uc_stage1[0x1100];
extern const uint8_t emb_uc_stage2[][256];

extern const emb_uc_ccc_range emb_uc_ccc_ranges[];
extern const size_t emb_uc_ccc_ranges_n;

/* Full canonical decompositions, Hangul syllables excluded (algorithmic). */
extern const emb_uc_map emb_uc_nfd_map[];
extern const size_t emb_uc_nfd_map_n;
extern const uint32_t emb_uc_nfd_pool[];

/* Lowercase mappings (may be several code points). */
extern const emb_uc_map emb_uc_lower_map[];
extern const size_t emb_uc_lower_map_n;
extern const uint32_t emb_uc_lower_pool[];

#endif
