# api_surface: README.md's "API surface" table equals what the extension
# registers (tests/python/test_api_surface.py). Its own test, so that whoever
# adds or changes an SQL function can run `ctest -R api_surface` in seconds;
# the failure message lists the README rows to add or remove. Release build
# only (the sqlite3 shell is not instrumented).
if(EMBED_SANITIZE)
  return()
endif()
find_package(Python3 COMPONENTS Interpreter REQUIRED)
add_test(NAME api_surface
  COMMAND ${Python3_EXECUTABLE} -m pytest -q -p no:cacheprovider ${CMAKE_SOURCE_DIR}/tests/python/test_api_surface.py)
set_tests_properties(api_surface PROPERTIES
  LABELS "python"
  TIMEOUT 120
  ENVIRONMENT "EMBED_BUILD_DIR=${CMAKE_BINARY_DIR};PYTHONDONTWRITEBYTECODE=1")
