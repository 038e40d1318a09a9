# signopt_comm, the distributed communication library (c10d's ProcessGroupGloo), and its ABI guard.
#
# Included from CMakeLists.txt. Run as a script (cmake -DARCHIVE=... -DNM=... -P comm.cmake) it is the
# guard itself: it fails when the archive defines any symbol of namespace gloo or any inline member of
# c10d::ProcessGroupGloo, or references Gloo directly. The Gloo headers come from Debian's libgloo-dev,
# an older Gloo than libtorch's, so signopt must call only libtorch's exported code (docs/distributed.md,
# "c10d and Gloo from C++").

if(CMAKE_SCRIPT_MODE_FILE)
  execute_process(COMMAND ${NM} -C ${ARCHIVE} OUTPUT_VARIABLE symbols RESULT_VARIABLE nm_result)
  if(NOT nm_result EQUAL 0)
    message(FATAL_ERROR "signopt_comm ABI guard: `${NM} -C ${ARCHIVE}` failed (${nm_result})")
  endif()
  string(REPLACE "\n" ";" lines "${symbols}")
  set(offending "")
  set(prefix "(vtable for |typeinfo for |typeinfo name for |VTT for |construction vtable for )?")
  foreach(line IN LISTS lines)
    # Options' inline members only copy and destroy shared_ptrs, whose layout does not depend on Gloo.
    if(line MATCHES " [A-TV-Za-tv-z] ${prefix}(gloo::|c10d::ProcessGroupGloo::)" AND
       NOT line MATCHES "c10d::ProcessGroupGloo::Options::")
      list(APPEND offending "${line}")
    elseif(line MATCHES " U ${prefix}gloo::")
      list(APPEND offending "${line}")
    endif()
  endforeach()
  if(offending)
    list(JOIN offending "\n  " text)
    message(FATAL_ERROR
      "signopt_comm compiled Gloo code from the Gloo headers it was built with; those need not match the "
      "Gloo inside libtorch (docs/distributed.md, \"c10d and Gloo from C++\"). Call libtorch's exported "
      "functions or c10d::Backend's virtual ones instead. Symbols:\n  ${text}")
  endif()
  return()
endif()

# ProcessGroupGloo.hpp includes <gloo/...>; the torch wheel ships no Gloo headers.
find_path(SIGNOPT_GLOO_INCLUDE_DIR gloo/rendezvous/store.h
  DOC "Directory holding gloo/rendezvous/store.h (Debian: libgloo-dev)")
if(NOT SIGNOPT_GLOO_INCLUDE_DIR)
  message(FATAL_ERROR
    "signopt_comm needs Gloo's headers (gloo/rendezvous/store.h), which the torch wheel does not ship: "
    "install Debian's libgloo-dev (scripts/setup.sh does), or pass -DSIGNOPT_GLOO_INCLUDE_DIR=DIR.")
endif()

add_library(signopt_comm STATIC src/comm/process_group.cpp src/comm/majority_vote.cpp src/comm/data_parallel.cpp
  src/comm/scaled_sign_exchange.cpp)
add_library(signopt::comm ALIAS signopt_comm)
target_link_libraries(signopt_comm PUBLIC signopt ${SIGNOPT_TORCH_LIBS})
target_include_directories(signopt_comm SYSTEM PRIVATE ${SIGNOPT_GLOO_INCLUDE_DIR})
# The wheel's libtorch_cpu is built with Gloo; its headers hide ProcessGroupGloo without this.
target_compile_definitions(signopt_comm PRIVATE USE_C10D_GLOO)
target_compile_options(signopt_comm PRIVATE -Wall -Wextra)
set_target_properties(signopt_comm PROPERTIES POSITION_INDEPENDENT_CODE ON)
add_custom_command(TARGET signopt_comm POST_BUILD
  COMMAND ${CMAKE_COMMAND} -DARCHIVE=$<TARGET_FILE:signopt_comm> -DNM=${CMAKE_NM} -P ${CMAKE_CURRENT_LIST_FILE}
  COMMENT "Checking that signopt_comm contains no Gloo code"
  VERBATIM)

# The torchrun test (tests/test_comm_gloo.cpp) uses the .venv's launcher when there is one.
find_program(SIGNOPT_TORCHRUN torchrun HINTS ${CMAKE_CURRENT_SOURCE_DIR}/.venv/bin ${TORCH_INSTALL_PREFIX}/../../../../bin
  NO_DEFAULT_PATH)
