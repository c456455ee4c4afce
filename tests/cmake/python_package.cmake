# python_package: `pip wheel .` (scikit-build-core driving this CMakeLists)
# builds the wheel offline, it is installed into the venv of Debian's python3
# made by tools/install-deps.sh, and tests/python_pkg runs against it
# (sqlite3 + sqlite-vec + apsw, the real MiniLM from the models fixture).
# Normal build only (the wheel's extension is a release build of its own).
if(NOT EMBED_SANITIZE)
  add_test(NAME python_package
    COMMAND bash ${CMAKE_SOURCE_DIR}/tests/python_pkg/run.sh ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR})
  set_tests_properties(python_package PROPERTIES
    TIMEOUT 900
    LABELS "python"
    FIXTURES_REQUIRED "models"
    ENVIRONMENT "EMBED_FIXTURES_DIR=${EMBED_FIXTURES_DIR};PYTHONDONTWRITEBYTECODE=1")
endif()
