# In the sanitizer build the extension is loaded into an uninstrumented host
# (the sqlite3 shell, python, node): those hosts need the ASan runtime
# preloaded. EMBED_ASAN_PRELOAD is empty in normal builds.
set(EMBED_ASAN_PRELOAD "")
if(EMBED_SANITIZE)
  if(CMAKE_C_COMPILER_ID MATCHES "Clang")
    execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libclang_rt.asan-x86_64.so
                    OUTPUT_VARIABLE EMBED_ASAN_PRELOAD OUTPUT_STRIP_TRAILING_WHITESPACE)
  else()
    execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
                    OUTPUT_VARIABLE EMBED_ASAN_PRELOAD OUTPUT_STRIP_TRAILING_WHITESPACE)
  endif()
  message(STATUS "sqlite-embed: ASan runtime for hosts: ${EMBED_ASAN_PRELOAD}")
endif()
