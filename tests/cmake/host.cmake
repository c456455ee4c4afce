# Host tests: small C programs (tests/host/test_host_*.c) that link the
# system SQLite and load the built extension as an application does: files
# changing under a loaded model, threads, fork, interrupts, load/close cycles.
find_package(SQLite3 REQUIRED)
add_library(embed_host_support STATIC ${CMAKE_SOURCE_DIR}/tests/host/host.c)
target_link_libraries(embed_host_support PUBLIC SQLite::SQLite3 Threads::Threads m)
file(GLOB EMBED_HOST_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/host/test_host_*.c)
foreach(t ${EMBED_HOST_TESTS})
  get_filename_component(name ${t} NAME_WE)
  add_executable(${name} ${t})
  target_link_libraries(${name} PRIVATE embed_host_support)
  add_dependencies(${name} embed)
  if(name STREQUAL "test_host_registry")
    # it defines open() to watch the extension's loads: export it (-rdynamic)
    set_target_properties(${name} PROPERTIES ENABLE_EXPORTS ON)
    target_link_libraries(${name} PRIVATE ${CMAKE_DL_LIBS})
  endif()
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES
    FIXTURES_REQUIRED "models"
    TIMEOUT 300
    ENVIRONMENT "EMBED_EXT=$<TARGET_FILE:embed>;EMBED_FIXTURES_DIR=${EMBED_FIXTURES_DIR}")
  if(name STREQUAL "test_host_interrupt" OR name STREQUAL "test_host_exit")
    # 50-90 s under ASan on a quiet machine, 190 s seen on a loaded one
    set_tests_properties(${name} PROPERTIES TIMEOUT 900)
  endif()
endforeach()

# ulimit -v: the host never hangs (OpenBLAS's endless buffer retry) or dies.
if(NOT EMBED_SANITIZE AND NOT EMBED_TSAN)
  add_test(NAME host_address_limit
           COMMAND bash ${CMAKE_SOURCE_DIR}/tests/host/address_limit.sh $<TARGET_FILE:embed>
                   ${EMBED_FIXTURES_DIR}/models/all-MiniLM-L6-v2.f32.gguf)
  set_tests_properties(host_address_limit PROPERTIES FIXTURES_REQUIRED "models" TIMEOUT 900)
endif()
