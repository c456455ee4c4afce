# Tests that measure the engine's heap (tests/unit/support/alloc_count.h) link
# with the allocator entry points wrapped; one list for all of them, so that
# the wrappers the support object defines always find their __real_ symbols.
# (Included before the other files of this folder: the name sorts first.)
function(embed_count_allocations target)
  if(TARGET ${target})
    target_link_options(${target} PRIVATE
      "-Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=aligned_alloc,--wrap=free,--wrap=emb_pages_alloc,--wrap=emb_pages_free")
  endif()
endfunction()
