# The streaming batcher's test counts the engine's allocations like
# test_forward_memory (tests/unit/support/alloc_count.h).
embed_count_allocations(test_embed_batcher)
