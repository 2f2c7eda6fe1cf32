# Builds and runs tests/consumer against cpp_grad got one WAY (cmake -P, from CTest):
#   package       this build's install rules into a fresh prefix, then find_package
#   subdirectory  add_subdirectory of the source tree
#   wheel         a wheel built from the source tree and pip-installed into a folder
#                 (not the editable install), then the include folder it names
# A missing prerequisite (pip, hatchling, a compiler) fails the test; nothing skips.
# Inputs: WAY SOURCE_DIR BUILD_DIR WORK_DIR PYTHON CXX GENERATOR VERSION.
cmake_minimum_required(VERSION 3.16)

# Runs a command; on failure stops the test with the command and its output.
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE status OUTPUT_VARIABLE output ERROR_VARIABLE output)
  if(NOT status EQUAL 0)
    string(REPLACE ";" " " command "${ARGN}")
    message(FATAL_ERROR "consumer (${WAY}): failed (${status}): ${command}\n${output}")
  endif()
  set(output "${output}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
set(consumer_args -DCPP_GRAD_VIA=${WAY})

if(WAY STREQUAL "package")
  run(${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${WORK_DIR}/prefix")
  if(NOT EXISTS "${WORK_DIR}/prefix/share/cmake/cpp_grad/cpp_gradConfig.cmake")
    message(FATAL_ERROR "consumer (package): cmake --install wrote no cpp_gradConfig.cmake "
                        "(is ${BUILD_DIR} configured with CPP_GRAD_INSTALL=OFF?)")
  endif()
  list(APPEND consumer_args "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix")
elseif(WAY STREQUAL "subdirectory")
  list(APPEND consumer_args "-DCPP_GRAD_SOURCE_DIR=${SOURCE_DIR}")
elseif(WAY STREQUAL "wheel")
  if(NOT EXISTS "${PYTHON}")
    message(FATAL_ERROR "consumer (wheel): no Python interpreter ('${PYTHON}'): "
                        "configure with -DPython3_EXECUTABLE=/path/to/python")
  endif()
  execute_process(COMMAND "${PYTHON}" -c "import hatchling, pip" RESULT_VARIABLE status ERROR_QUIET)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "consumer (wheel): ${PYTHON} lacks pip or hatchling, which build the wheel "
                        "(pip install hatchling; it is in cpp_grad's [test] extras)")
  endif()
  run("${PYTHON}" -m pip wheel --quiet --no-deps --no-build-isolation --no-index
      --wheel-dir "${WORK_DIR}/dist" "${SOURCE_DIR}")
  file(GLOB wheel "${WORK_DIR}/dist/cpp_grad-${VERSION}-*.whl")
  if(NOT wheel)
    file(GLOB built "${WORK_DIR}/dist/*")
    message(FATAL_ERROR "consumer (wheel): no wheel of version ${VERSION} (CMake's) was built: ${built}")
  endif()
  run("${PYTHON}" -m pip install --quiet --no-deps --no-index --target "${WORK_DIR}/site" "${wheel}")

  # Ask the installed copy, as a build script would: the -I flag, then the same
  # folder, the version and whether cppyy was started, from Python.
  set(installed ${CMAKE_COMMAND} -E env "PYTHONPATH=${WORK_DIR}/site" "${PYTHON}")
  run(${installed} -m cpp_grad --includes)
  string(STRIP "${output}" flag)
  string(REGEX REPLACE "^-I" "" include_dir "${flag}")
  # (No ';' in the code: CMake would split the argument there.)
  run(${installed} -c "import sys, cpp_grad\nprint(cpp_grad.get_include())\nprint(cpp_grad.__version__)\nprint('cppyy' in sys.modules)")
  string(STRIP "${output}" output)
  string(REPLACE "\n" ";" answers "${output}")
  set(expected "${include_dir};${VERSION};False")
  if(NOT answers STREQUAL expected)
    message(FATAL_ERROR "consumer (wheel): get_include(), __version__, cppyy loaded: "
                        "'${answers}', expected '${expected}'")
  endif()
  string(FIND "${include_dir}" "${WORK_DIR}/site/" at)
  if(NOT at EQUAL 0 OR NOT EXISTS "${include_dir}/cpp_grad/cpp_grad.hpp")
    message(FATAL_ERROR "consumer (wheel): --includes printed '${flag}', not the headers in ${WORK_DIR}/site")
  endif()
  set(consumer_args -DCPP_GRAD_VIA=include "-DCPP_GRAD_INCLUDE_DIR=${include_dir}")
else()
  message(FATAL_ERROR "WAY is '${WAY}': package, subdirectory or wheel")
endif()

# No build type: the consumer checks that cpp_grad does not choose one for it.
run(${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/consumer" -B "${WORK_DIR}/build" -G "${GENERATOR}"
    "-DCMAKE_CXX_COMPILER=${CXX}" ${consumer_args})
run(${CMAKE_COMMAND} --build "${WORK_DIR}/build")
run("${WORK_DIR}/build/consumer")
message(STATUS "${output}")
