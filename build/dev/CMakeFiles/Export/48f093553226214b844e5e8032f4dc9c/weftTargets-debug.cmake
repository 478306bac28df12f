#----------------------------------------------------------------
# Generated CMake target import file for configuration "Debug".
#----------------------------------------------------------------

# Commands may need to know the format version.
set(CMAKE_IMPORT_FILE_VERSION 1)

# Import target "weft::weft" for configuration "Debug"
set_property(TARGET weft::weft APPEND PROPERTY IMPORTED_CONFIGURATIONS DEBUG)
set_target_properties(weft::weft PROPERTIES
  IMPORTED_LINK_INTERFACE_LANGUAGES_DEBUG "ASM;CXX"
  IMPORTED_LOCATION_DEBUG "${_IMPORT_PREFIX}/lib/libweft.a"
  )

list(APPEND _cmake_import_check_targets weft::weft )
list(APPEND _cmake_import_check_files_for_weft::weft "${_IMPORT_PREFIX}/lib/libweft.a" )

# Commands beyond this point should not need to know the version.
set(CMAKE_IMPORT_FILE_VERSION)
