# Tokenizer data checks (docs/tokenizer.md). Both regenerate committed data
# from the independent reference (Python unicodedata + HF tokenizers) and fail
# if the committed file differs, so a changed generator or a drifted reference
# cannot go unnoticed. They need python3 with the pinned `tokenizers` and
# `gguf` packages.
#   tokenizer_goldens_check: tests/data/tokenizer/goldens.txt (a few seconds)
#   unicode_tables_check:    src/unicode_data.c (about a minute: it probes every
#                            code point through tokenizers; label "slow")
# Pure-Python regeneration checks: once, in the normal build.
if(EMBED_SANITIZE)
  return()
endif()
add_test(NAME tokenizer_goldens_check
         COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/python/gen_tokenizer_goldens.py --check
                 --vocab ${CMAKE_SOURCE_DIR}/tests/data/bert-vocab/ggml-vocab-bert-bge.gguf
                 -o ${CMAKE_SOURCE_DIR}/tests/data/tokenizer/goldens.txt)
set_tests_properties(tokenizer_goldens_check PROPERTIES LABELS "python")
add_test(NAME unicode_tables_check
         COMMAND python3 ${CMAKE_SOURCE_DIR}/tools/gen_unicode_tables.py --check
                 -o ${CMAKE_SOURCE_DIR}/src/unicode_data.c)
set_tests_properties(unicode_tables_check PROPERTIES LABELS "python;slow" TIMEOUT 600)
