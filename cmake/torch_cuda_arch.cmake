# signopt_torch_cuda_arch_list(ARCHS OUT): CMake's CUDA_ARCHITECTURES syntax ("90", "80;90", "90a",
# "90-real", "native") in the spelling of LibTorch's TORCH_CUDA_ARCH_LIST ("9.0", "8.0;9.0", "9.0a", "9.0",
# "Auto"). "all" and "all-major" have no such spelling: OUT is then empty (LibTorch keeps its own list). A
# value of no known form stops the configure with a message naming it.
function(signopt_torch_cuda_arch_list archs out)
  set(result "")
  foreach(arch IN LISTS archs)
    string(TOLOWER "${arch}" arch)
    if(arch STREQUAL "native")
      set(result "Auto")
      break()
    elseif(arch STREQUAL "all" OR arch STREQUAL "all-major")
      set(result "")
      break()
    endif()
    string(REGEX REPLACE "-(real|virtual)$" "" arch "${arch}")
    if(NOT arch MATCHES "^([0-9]+)([0-9])([af]?)$")
      message(FATAL_ERROR "SIGNOPT_CUDA_ARCHITECTURES: '${arch}' is not a CUDA architecture (expected e.g. "
                          "90, 90a, 100, \"80;90\" or native)")
    endif()
    list(APPEND result "${CMAKE_MATCH_1}.${CMAKE_MATCH_2}${CMAKE_MATCH_3}")
  endforeach()
  list(REMOVE_DUPLICATES result)
  set(${out} "${result}" PARENT_SCOPE)
endfunction()
