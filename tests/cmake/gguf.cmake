# GGUF reader cross-check against the PyPI gguf package (docs/gguf-reader.md).
#
# gguf_samples_generate writes GGUF files with gguf.GGUFWriter and dumps what
# gguf.GGUFReader sees in them (tests/python/gen_gguf_samples.py) into
# ${CMAKE_BINARY_DIR}/gguf_samples; test_gguf_samples (tests/unit, registered
# by the main CMakeLists glob) then compares the C reader with those dumps.
# The FIXTURES_* properties make ctest run the generator first, also when
# only test_gguf_samples is selected (ctest -R test_gguf_samples).
add_test(NAME gguf_samples_generate
         COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/python/gen_gguf_samples.py ${CMAKE_BINARY_DIR}/gguf_samples)
set_tests_properties(gguf_samples_generate PROPERTIES FIXTURES_SETUP gguf_samples)
if(TEST test_gguf_samples)
  set_tests_properties(test_gguf_samples PROPERTIES FIXTURES_REQUIRED gguf_samples)
endif()
