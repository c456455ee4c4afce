# Dequantization goldens: tests/python/gen_quant_goldens.py (numpy + PyPI gguf)
# writes ${CMAKE_BINARY_DIR}/quant_goldens.bin before test_quant runs.
find_package(Python3 COMPONENTS Interpreter REQUIRED)
add_test(NAME quant_goldens
         COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/tests/python/gen_quant_goldens.py
                 --out ${CMAKE_BINARY_DIR}/quant_goldens.bin)
set_tests_properties(quant_goldens PROPERTIES FIXTURES_SETUP quant_goldens)
if(TEST test_quant)
  set_tests_properties(test_quant PROPERTIES FIXTURES_REQUIRED quant_goldens)
endif()
