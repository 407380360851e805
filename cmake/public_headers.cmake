# The public headers stand on their own: one translation unit per include/inputpipe/*.h that
# includes only that header, compiled with only include/ on the include path. A header that
# leans on an include it does not make, or on anything of src/, fails to compile here.
# Globbed, so a new public header is covered without touching this file. Part of the test build.
file(GLOB INPUTPIPE_PUBLIC_HEADERS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/include/inputpipe/*.h)
set(INPUTPIPE_HEADER_TUS)
foreach(header ${INPUTPIPE_PUBLIC_HEADERS})
  get_filename_component(header_name ${header} NAME)
  # A quoted include is searched beside the including file first, so `#include "tensor.h"` or
  # `#include "../../src/x.h"` would compile; only "inputpipe/..." names a public header.
  file(STRINGS ${header} quoted_includes REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
  foreach(line ${quoted_includes})
    if(NOT line MATCHES "#[ \t]*include[ \t]*\"inputpipe/[A-Za-z0-9_]+\\.h\"")
      message(FATAL_ERROR "include/inputpipe/${header_name}: '${line}': a public header may "
                          "include only public headers (\"inputpipe/NAME.h\")")
    endif()
  endforeach()
  set(tu ${CMAKE_CURRENT_BINARY_DIR}/public_headers/${header_name}.cc)
  # file(CONFIGURE): rewritten only when the text changes, so rebuilds stay incremental.
  file(CONFIGURE OUTPUT ${tu} CONTENT "#include \"inputpipe/${header_name}\"\n")
  list(APPEND INPUTPIPE_HEADER_TUS ${tu})
endforeach()
# An object library: compiled by `cmake --build`, linked into nothing.
add_library(inputpipe_public_headers OBJECT ${INPUTPIPE_HEADER_TUS})
# Only include/: not the inputpipe target (whose usage requirements are the same today, but
# would hide a PRIVATE dir turned PUBLIC) and never src/.
target_include_directories(inputpipe_public_headers PRIVATE ${PROJECT_SOURCE_DIR}/include)
target_compile_features(inputpipe_public_headers PRIVATE cxx_std_20)
target_compile_options(inputpipe_public_headers PRIVATE -Wall -Wextra)
