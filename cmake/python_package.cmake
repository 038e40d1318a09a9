# The Python package's build (pyproject.toml, scikit-build-core): only the operator library and the registry's
# JSON, installed into the package directory `signopt/` of the wheel. LibTorch is the torch installed in the
# Python that builds (pip install --no-build-isolation, so the wheel is built against the torch it will run with,
# and no second torch is downloaded); its directory is found without importing torch.
if(NOT CMAKE_BUILD_TYPE)
  set(CMAKE_BUILD_TYPE Release)
endif()
find_package(Python COMPONENTS Interpreter REQUIRED)
execute_process(
  COMMAND "${Python_EXECUTABLE}" -c
          "import importlib.util, os; s = importlib.util.find_spec('torch'); print(os.path.dirname(s.origin) if s else '')"
  OUTPUT_VARIABLE TORCH_INSTALL_PREFIX OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _signopt_find_torch)
if(NOT _signopt_find_torch EQUAL 0 OR NOT TORCH_INSTALL_PREFIX)
  message(FATAL_ERROR "signopt: ${Python_EXECUTABLE} has no torch installed; install torch>=2.10 first, then build "
                      "with `pip install --no-build-isolation .` (see docs/python.md)")
endif()
message(STATUS "signopt: building the Python package's operators against ${TORCH_INSTALL_PREFIX}")
include(cmake/signopt_ops.cmake)
if(NOT TARGET signopt_ops)
  message(FATAL_ERROR "signopt: the torch in ${TORCH_INSTALL_PREFIX} has no stable ABI (torch >= 2.10 is needed)")
endif()
install(TARGETS signopt_ops LIBRARY DESTINATION signopt)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/registry.json DESTINATION signopt)
