# cmake -DSOURCE_DIR=<repo> -P tests/cmake/test_torch_cuda_arch.cmake: signopt_torch_cuda_arch_list
# (cmake/torch_cuda_arch.cmake) on known answers; a wrong one stops with FATAL_ERROR (a failed test).
include(${SOURCE_DIR}/cmake/torch_cuda_arch.cmake)

function(expect archs want)
  signopt_torch_cuda_arch_list("${archs}" got)
  if(NOT "${got}" STREQUAL "${want}")
    message(FATAL_ERROR "signopt_torch_cuda_arch_list(\"${archs}\") = \"${got}\", expected \"${want}\"")
  endif()
  message(STATUS "ok: \"${archs}\" -> \"${got}\"")
endfunction()

expect("90" "9.0")
expect("80;90" "8.0;9.0")
expect("90a" "9.0a")
expect("100" "10.0")
expect("100f;120" "10.0f;12.0")
expect("90-real;90-virtual" "9.0")
expect("75;80-real" "7.5;8.0")
expect("native" "Auto")
expect("NATIVE" "Auto")
expect("all" "")
expect("all-major" "")
