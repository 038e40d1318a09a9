# Optional CUDA kernels for signopt (src/kernels/fused_cuda.cu). Included from the top-level
# CMakeLists.txt right after the signopt target is defined.
#
#   -DSIGNOPT_WITH_CUDA=AUTO|ON|OFF   AUTO (default): build them when nvcc is found; ON: required;
#                                     OFF: never (the library is then exactly the CPU build).
#   -DSIGNOPT_CUDA_ARCHITECTURES=90   GPU architectures, CMake CUDA_ARCHITECTURES syntax: "90" is
#                                     sm_90 code plus compute_90 PTX (H100/H200); e.g. "80;90" adds
#                                     A100, "90a", "100", "native" (the GPU of the build machine).
#
# With CUDA, signopt gets the compile definition SIGNOPT_WITH_CUDA, the tensor dispatch
# (src/kernels/fused_cuda_dispatch.cpp) and links the kernels (static library signopt_cuda_kernels)
# and the static CUDA runtime (CUDA::cudart_static): it still links only torch_cpu and c10 of
# LibTorch and runs on machines without a GPU or CUDA libraries. The kernels are compiled as C++17 without LibTorch headers; -fmad=false keeps
# every float operation separately rounded, as the CPU kernels are (bit-identical results).
# Also builds cuda_kernel_check (tests/cuda/): the kernels against their host model plus a timing,
# needing only the CUDA driver at run time (scripts/gpu-check.sh runs it on a GPU machine).

set(SIGNOPT_WITH_CUDA AUTO CACHE STRING "Build the CUDA kernels: AUTO (when nvcc is found), ON or OFF")
set_property(CACHE SIGNOPT_WITH_CUDA PROPERTY STRINGS AUTO ON OFF)
# SIGNOPT_CUDA_ARCHITECTURES is defined in CMakeLists.txt, before find_package(Torch), which needs it too.

set(SIGNOPT_CUDA_ENABLED OFF)
string(TOUPPER "${SIGNOPT_WITH_CUDA}" _signopt_cuda_mode)
if(NOT _signopt_cuda_mode STREQUAL "AUTO" AND NOT _signopt_cuda_mode MATCHES "^(ON|OFF|TRUE|FALSE|YES|NO|1|0)$")
  message(FATAL_ERROR "SIGNOPT_WITH_CUDA must be AUTO, ON or OFF; got '${SIGNOPT_WITH_CUDA}'")
endif()

if(_signopt_cuda_mode STREQUAL "AUTO" OR SIGNOPT_WITH_CUDA)
  # A CUDA-enabled LibTorch's config has usually enabled CUDA already (with TORCH_CUDA_ARCH_LIST
  # flags in CMAKE_CUDA_FLAGS); otherwise look for nvcc here.
  if(NOT CMAKE_CUDA_COMPILER)
    include(CheckLanguage)
    check_language(CUDA)
    if(CMAKE_CUDA_COMPILER)
      if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
        set(CMAKE_CUDA_ARCHITECTURES ${SIGNOPT_CUDA_ARCHITECTURES})
      endif()
      enable_language(CUDA)
    endif()
  endif()
  if(CMAKE_CUDA_COMPILER)
    find_package(CUDAToolkit)
  endif()
  if(CMAKE_CUDA_COMPILER AND TARGET CUDA::cudart_static)
    set(SIGNOPT_CUDA_ENABLED ON)
  elseif(_signopt_cuda_mode STREQUAL "AUTO")
    message(STATUS "signopt: CUDA kernels not built (no nvcc or CUDA runtime found; set CUDACXX or "
                   "CMAKE_CUDA_COMPILER to use one)")
  else()
    message(FATAL_ERROR "SIGNOPT_WITH_CUDA=ON but no CUDA compiler/runtime was found: install the CUDA "
                        "toolkit, point CUDACXX or CMAKE_CUDA_COMPILER at nvcc, or configure with -DSIGNOPT_WITH_CUDA=OFF")
  endif()
endif()

if(SIGNOPT_CUDA_ENABLED)
  message(STATUS "signopt: CUDA kernels enabled (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, architectures "
                 "${SIGNOPT_CUDA_ARCHITECTURES})")
  string(REPLACE ";" "," _signopt_arch_string "${SIGNOPT_CUDA_ARCHITECTURES}")

  # The kernels: a static library of their own, so that signopt's g++ flags (and its C++20, which
  # CMake 3.25 cannot express for nvcc) never reach nvcc. Installed and exported with signopt.
  add_library(signopt_cuda_kernels STATIC ${CMAKE_CURRENT_LIST_DIR}/../src/kernels/fused_cuda.cu)
  add_library(signopt::cuda_kernels ALIAS signopt_cuda_kernels)
  target_include_directories(signopt_cuda_kernels PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../include)
  target_link_libraries(signopt_cuda_kernels PUBLIC CUDA::cudart_static)
  target_compile_definitions(signopt_cuda_kernels PRIVATE SIGNOPT_CUDA_ARCH_STRING="${_signopt_arch_string}")
  set_target_properties(signopt_cuda_kernels PROPERTIES
    CUDA_ARCHITECTURES "${SIGNOPT_CUDA_ARCHITECTURES}"
    CUDA_STANDARD 17
    CUDA_STANDARD_REQUIRED ON
    CUDA_EXTENSIONS OFF
    POSITION_INDEPENDENT_CODE ON)
  target_compile_options(signopt_cuda_kernels PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:-fmad=false -Xcompiler=-ffp-contract=off,-Wall,-Wextra>)
  include(GNUInstallDirs)
  install(TARGETS signopt_cuda_kernels EXPORT signoptTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})

  target_sources(signopt PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../src/kernels/fused_cuda_dispatch.cpp)
  target_compile_definitions(signopt PUBLIC SIGNOPT_WITH_CUDA=1)
  # PRIVATE: exported as link-only; signoptConfig.cmake finds CUDAToolkit for CUDA::cudart_static.
  target_link_libraries(signopt PRIVATE signopt_cuda_kernels)

  # The kernels against their host model, and a timing, with no LibTorch: a GPU machine needs only
  # the driver (static CUDA runtime, static libstdc++). Exits 77 (skipped) without a usable GPU.
  add_executable(cuda_kernel_check ${CMAKE_CURRENT_LIST_DIR}/../tests/cuda/cuda_kernel_check.cpp)
  target_include_directories(cuda_kernel_check PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../include)
  target_compile_features(cuda_kernel_check PRIVATE cxx_std_17)
  target_compile_options(cuda_kernel_check PRIVATE -Wall -Wextra -ffp-contract=off)
  target_link_libraries(cuda_kernel_check PRIVATE signopt_cuda_kernels)
  target_link_options(cuda_kernel_check PRIVATE -static-libstdc++ -static-libgcc)
  set_target_properties(cuda_kernel_check PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
  if(SIGNOPT_BUILD_TESTS)
    enable_testing()
    add_test(NAME FusedCuda.KernelCheck COMMAND cuda_kernel_check --no-timing)
    set_tests_properties(FusedCuda.KernelCheck PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900)
  endif()
endif()
