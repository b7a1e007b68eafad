# cmake -DMANIFEST=<build>/install_manifest.txt -P uninstall.cmake
#
# Removes exactly the files the last `cmake --install` of this build wrote
# (CMake lists them in install_manifest.txt, without DESTDIR: set DESTDIR
# again, as for the install, to remove a staged tree), then each
# folder on their way up that is ours (a path component named "vial":
# share/vial/..., lib/cmake/vial) and now empty.  Shared folders (bin,
# lib, share/man/man1) are never removed, even when empty.
if(NOT EXISTS "${MANIFEST}")
  message(FATAL_ERROR "nothing to uninstall: ${MANIFEST} not found (install first, from the same build)")
endif()
cmake_minimum_required(VERSION 3.16)
file(STRINGS "${MANIFEST}" files)
set(dirs "")
set(n 0)
foreach(f IN LISTS files)
  set(f "$ENV{DESTDIR}${f}")
  if(IS_SYMLINK "${f}" OR EXISTS "${f}")
    file(REMOVE "${f}")
    math(EXPR n "${n} + 1")
  else()
    message(STATUS "already gone: ${f}")
  endif()
  get_filename_component(d "${f}" DIRECTORY)
  while(d MATCHES "/vial(/|$)")
    list(APPEND dirs "${d}")
    get_filename_component(d "${d}" DIRECTORY)
  endwhile()
endforeach()
# Deepest first, so a folder is empty by the time its turn comes.
list(REMOVE_DUPLICATES dirs)
list(SORT dirs ORDER DESCENDING)
foreach(d IN LISTS dirs)
  file(GLOB left "${d}/*" "${d}/.*")
  if(IS_DIRECTORY "${d}" AND NOT left)
    file(REMOVE_RECURSE "${d}")
  endif()
endforeach()
file(REMOVE "${MANIFEST}")
message(STATUS "removed ${n} files")
