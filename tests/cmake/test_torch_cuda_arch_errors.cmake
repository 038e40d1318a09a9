# cmake -DSOURCE_DIR=<repo> -DARCHS=<value> -P ...: must stop with the message naming the value (the ctest
# that runs it expects the failure and matches the message).
include(${SOURCE_DIR}/cmake/torch_cuda_arch.cmake)
signopt_torch_cuda_arch_list("${ARCHS}" got)
message(STATUS "no error for '${ARCHS}': got '${got}'")
