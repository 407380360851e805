# Install rules of the C++ package: the static library, the public headers, a CMake package
# (find_package(inputpipe CONFIG) -> inputpipe::inputpipe) and a pkg-config file.
#
#   cmake -S . -B build && cmake --build build && cmake --install build --prefix /opt/inputpipe
#
# Included by the top-level CMakeLists.txt when INPUTPIPE_INSTALL is on. tools/consumer.sh
# builds examples/consumer/ against the installed files, both ways.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# Where the CMake package files go: <libdir>/cmake/<name> is on find_package's search path
# under every prefix listed in CMAKE_PREFIX_PATH.
set(INPUTPIPE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/inputpipe)

# EXPORT: record the target (its include dir, C++20, Threads and the link-only zlib) for
# inputpipeTargets.cmake. ARCHIVE: the engine is a static library, the one artifact there is.
# INCLUDES DESTINATION: the include dir consumers of the installed target get, in place of the
# source tree's include/.
install(TARGETS inputpipe
  EXPORT inputpipeTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# Only include/inputpipe/*.h are public; nothing of src/ is installed (the headers include only
# each other, which the header check of cmake/public_headers.cmake enforces).
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/inputpipe
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.h")
# NAMESPACE: the imported target is inputpipe::inputpipe, the name of the in-tree alias.
install(EXPORT inputpipeTargets
  NAMESPACE inputpipe::
  DESTINATION ${INPUTPIPE_CMAKE_DIR})

# inputpipeConfig.cmake finds the dependencies, then includes inputpipeTargets.cmake. Made
# relocatable by configure_package_config_file (PACKAGE_INIT computes the prefix from the
# file's own location), so `cmake --install --prefix` anywhere works.
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/inputpipeConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/inputpipeConfig.cmake
  INSTALL_DESTINATION ${INPUTPIPE_CMAKE_DIR})
# SameMinorVersion: before 1.0 a minor release may change the API.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/inputpipeConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${CMAKE_CURRENT_BINARY_DIR}/inputpipeConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/inputpipeConfigVersion.cmake
  DESTINATION ${INPUTPIPE_CMAKE_DIR})

# pkg-config: prefix=${pcfiledir}/<up to the prefix>, so the file is relocatable as the CMake
# package is (the install prefix is only known for sure at `cmake --install` time).
file(RELATIVE_PATH INPUTPIPE_PC_TO_PREFIX
  ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" INPUTPIPE_PC_TO_PREFIX "${INPUTPIPE_PC_TO_PREFIX}")
foreach(dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(INPUTPIPE_PC_${dir} "${CMAKE_INSTALL_${dir}}")
  else()
    set(INPUTPIPE_PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()
# @ONLY: the file's own ${...} variables are pkg-config's, not CMake's.
configure_file(${CMAKE_CURRENT_LIST_DIR}/inputpipe.pc.in
  ${CMAKE_CURRENT_BINARY_DIR}/inputpipe.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/inputpipe.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
