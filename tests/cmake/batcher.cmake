# The streaming batcher's test counts the engine's allocations like
# test_forward_memory: the allocator entry points are wrapped at link time.
if(TARGET test_embed_batcher)
  target_link_options(test_embed_batcher PRIVATE
    "-Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free,--wrap=emb_pages_alloc,--wrap=emb_pages_free")
endif()
