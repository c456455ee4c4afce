# dqlite_cluster: sqlite-embed in a 3-node dqlite cluster on 127.0.0.1
# (tests/cluster/test_dqlite_cluster.py, docs/cluster.md). Needs
# embed-dqlite-node (built when libdqlite-dev is installed: tools/install-deps.sh
# installs it) and the model fixtures. sqlite-vec's vec0.so from the Node test
# dependencies is used when present. In the sanitizer build the node itself is
# instrumented, so the nodes that are stopped normally also pass LeakSanitizer
# (the test requires exit status 0).
if(EMBED_DQLITE_BUILD)
  find_package(Python3 COMPONENTS Interpreter REQUIRED)
  add_test(NAME dqlite_cluster
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/tests/cluster/test_dqlite_cluster.py
            --build ${CMAKE_BINARY_DIR} --models ${EMBED_FIXTURES_DIR}/models
            --vec0 ${CMAKE_SOURCE_DIR}/tests/node/node_modules/sqlite-vec-linux-x64/vec0.so)
  set_tests_properties(dqlite_cluster PROPERTIES
    FIXTURES_REQUIRED models
    TIMEOUT 400
    LABELS "cluster"
    ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
endif()
