# Forward-pass tests (branch wip-fwd).
#
# test_forward_memory counts every allocation of the engine code linked into
# it (tests/unit/support/alloc_count.h).
embed_count_allocations(test_forward_memory)

# The golden test needs the models and .ref.bin files that tests/cmake/models.cmake
# (branch wip-py) generates in the FIXTURES_SETUP test `gen_models`. Required, not
# optional: without the fixtures the test fails instead of skipping.
if(TARGET test_forward_golden)
  set_tests_properties(test_forward_golden PROPERTIES FIXTURES_REQUIRED models TIMEOUT 900)
endif()
