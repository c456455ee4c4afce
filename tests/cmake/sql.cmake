# SQL-level tests: every tests/sql/*.sql runs through the sqlite3 shell with
# the built extension and must print exactly its .expected file.
find_program(SQLITE3_SHELL sqlite3 REQUIRED)
file(GLOB EMBED_SQL_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/sql/*.sql)
foreach(t ${EMBED_SQL_TESTS})
  get_filename_component(name ${t} NAME_WE)
  add_test(NAME sql_${name}
           COMMAND bash ${CMAKE_SOURCE_DIR}/tests/sql/run_sql_test.sh ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR} ${t})
  set_tests_properties(sql_${name} PROPERTIES FIXTURES_REQUIRED "models;gguf_samples"
    ENVIRONMENT "EMBED_FIXTURES_DIR=${EMBED_FIXTURES_DIR}")
  if(EMBED_SANITIZE)
    # The shell is not instrumented: preload the runtime; the shell's own
    # allocations at exit are not ours to judge, so leaks are checked by the
    # C tests instead.
    set_tests_properties(sql_${name} PROPERTIES ENVIRONMENT
      "LD_PRELOAD=${EMBED_ASAN_PRELOAD};ASAN_OPTIONS=detect_leaks=0;EMBED_FIXTURES_DIR=${EMBED_FIXTURES_DIR}")
  endif()
endforeach()
