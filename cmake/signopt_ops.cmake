# The custom-operator library of the Python package (python/csrc/signopt_ops.cpp) and the registry's JSON
# export, shared by the main build and the Python package's build (pyproject.toml: SIGNOPT_PYTHON_PACKAGE).
# Needs TORCH_INSTALL_PREFIX (the torch wheel's directory) and SIGNOPT_KERNELS_CORE_SOURCES.
#
# signopt_ops is the kernel core built against LibTorch's stable ABI (torch >= 2.10: C shims only, no ATen),
# so one library serves every torch release from 2.10 on. Linked to libtorch_cpu for the shims (the soname
# carries no version).
set(SIGNOPT_STABLE_ABI_HEADER "${TORCH_INSTALL_PREFIX}/include/torch/csrc/stable/library.h")
if(EXISTS "${SIGNOPT_STABLE_ABI_HEADER}")
  add_library(signopt_ops SHARED ${CMAKE_CURRENT_SOURCE_DIR}/python/csrc/signopt_ops.cpp ${SIGNOPT_KERNELS_CORE_SOURCES})
  target_include_directories(signopt_ops PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_include_directories(signopt_ops SYSTEM PRIVATE "${TORCH_INSTALL_PREFIX}/include")
  target_compile_definitions(signopt_ops PRIVATE SIGNOPT_PARALLEL_STABLE TORCH_TARGET_VERSION=0x020a000000000000)
  target_compile_features(signopt_ops PRIVATE cxx_std_17)
  target_compile_options(signopt_ops PRIVATE -Wall -Wextra -ffp-contract=off -fno-math-errno)
  target_link_libraries(signopt_ops PRIVATE "${TORCH_INSTALL_PREFIX}/lib/libtorch_cpu.so")
  # In the build tree the library finds the wheel's libtorch_cpu by path; installed in the package it is
  # loaded after `import torch`, which has loaded libtorch_cpu already.
  set_target_properties(signopt_ops PROPERTIES BUILD_RPATH "${TORCH_INSTALL_PREFIX}/lib" INSTALL_RPATH "")
else()
  message(STATUS "signopt: no stable-ABI headers in ${TORCH_INSTALL_PREFIX} (torch < 2.10): signopt_ops is not built")
endif()

# The optimizer registry as JSON (python/csrc/registry_json.cpp, torch-free): the Python classes take their
# defaults from it, so the two languages cannot disagree.
add_executable(signopt_registry_json ${CMAKE_CURRENT_SOURCE_DIR}/python/csrc/registry_json.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/src/optim/registry.cpp)
target_include_directories(signopt_registry_json PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/include)
target_compile_definitions(signopt_registry_json PRIVATE SIGNOPT_REGISTRY_WITHOUT_FACTORIES)
target_compile_features(signopt_registry_json PRIVATE cxx_std_17)
target_compile_options(signopt_registry_json PRIVATE -Wall -Wextra)
add_custom_command(OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/registry.json
  COMMAND signopt_registry_json ${CMAKE_CURRENT_BINARY_DIR}/registry.json
  DEPENDS signopt_registry_json
  COMMENT "signopt: the optimizer registry as JSON")
add_custom_target(signopt_registry_export ALL DEPENDS ${CMAKE_CURRENT_BINARY_DIR}/registry.json)
