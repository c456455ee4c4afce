# Forward-pass tests (branch wip-fwd).
#
# test_forward_memory counts every allocation of the engine code linked into
# it: the allocator entry points are wrapped at link time.
if(TARGET test_forward_memory)
  target_link_options(test_forward_memory PRIVATE
    "-Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=aligned_alloc,--wrap=free,--wrap=emb_pages_alloc,--wrap=emb_pages_free")
endif()

# The golden test needs the models and .ref.bin files that tests/cmake/models.cmake
# (branch wip-py) generates in the FIXTURES_SETUP test `gen_models`. Required, not
# optional: without the fixtures the test fails instead of skipping.
if(TARGET test_forward_golden)
  set_tests_properties(test_forward_golden PROPERTIES FIXTURES_REQUIRED models TIMEOUT 900)
endif()
