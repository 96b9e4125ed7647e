# `cmake --install build --prefix P` and `cpack -G DEB` (included by the top-level CMakeLists.txt):
#
#   P/include/ag/ag.h, version.h, <layer>/*.h   the public headers (not AG_INTERNAL_HEADERS), and xtensor.h
#                                               (the xtensor bridge: its user needs xtensor)
#   P/lib/libag.a (or libag.so.0.2.0)           and libag_distributed when it was built
#   P/lib/cmake/ag/                             agConfig.cmake, agConfigVersion.cmake, the targets
#   P/lib/pkgconfig/ag.pc
#
# Nothing goes directly into P/include: autograd/, nn/... would collide with other libraries' folders.
include(CMakePackageConfigHelpers)
set(AG_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/ag)

# The public headers of the source folder `folder`, installed to include/ag/<folder>/.
function(ag_install_headers folder)
  file(GLOB_RECURSE headers RELATIVE ${PROJECT_SOURCE_DIR} CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${folder}/*.h)
  list(REMOVE_ITEM headers ${AG_INTERNAL_HEADERS})
  foreach(header ${headers})
    get_filename_component(dir ${header} DIRECTORY)
    install(FILES ${PROJECT_SOURCE_DIR}/${header} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/ag/${dir})
  endforeach()
endfunction()

foreach(layer ${AG_LAYERS})
  ag_install_headers(${layer})
endforeach()
install(FILES ${PROJECT_SOURCE_DIR}/ag.h ${PROJECT_SOURCE_DIR}/xtensor.h ${AG_BUILD_INCLUDE_DIR}/ag/version.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/ag)
install(TARGETS ag EXPORT agTargets)
install(EXPORT agTargets NAMESPACE ag:: DESTINATION ${AG_CMAKE_DIR})
if(TARGET ag_distributed)
  ag_install_headers(distributed)
  install(TARGETS ag_distributed EXPORT agDistributedTargets)
  install(EXPORT agDistributedTargets NAMESPACE ag:: DESTINATION ${AG_CMAKE_DIR})
endif()

configure_package_config_file(cmake/agConfig.cmake.in ${PROJECT_BINARY_DIR}/agConfig.cmake
                              INSTALL_DESTINATION ${AG_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/agConfigVersion.cmake COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/agConfig.cmake ${PROJECT_BINARY_DIR}/agConfigVersion.cmake
        DESTINATION ${AG_CMAKE_DIR})

# ag.pc names the prefix it is installed to (`--prefix P`, or /usr in the Debian package), so it is
# written at install time. A static libag needs OpenBLAS at every link, a shared one only for
# `pkg-config --static`.
if(BUILD_SHARED_LIBS)
  set(AG_PC_REQUIRES "")
  set(AG_PC_REQUIRES_PRIVATE openblas)
else()
  set(AG_PC_REQUIRES openblas)
  set(AG_PC_REQUIRES_PRIVATE "")
endif()
set(AG_PC_PREFIX "@CMAKE_INSTALL_PREFIX@")  # left for the install step
configure_file(cmake/ag.pc.in ${PROJECT_BINARY_DIR}/ag.pc.in @ONLY)
install(CODE "configure_file(\"${PROJECT_BINARY_DIR}/ag.pc.in\" \"${PROJECT_BINARY_DIR}/ag.pc\" @ONLY)")
install(FILES ${PROJECT_BINARY_DIR}/ag.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The Debian package: `cd build && cpack -G DEB` makes libag-dev_<version>_amd64.deb, installed to /usr.
if(PROJECT_IS_TOP_LEVEL)
  set(AG_PACKAGE_CONTACT "ag developers" CACHE STRING "The Maintainer field of the Debian package")
  set(CPACK_GENERATOR DEB)
  set(CPACK_PACKAGE_NAME libag-dev)
  set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
  set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}: headers, library, CMake and pkg-config files")
  set(CPACK_PACKAGE_CONTACT ${AG_PACKAGE_CONTACT})
  set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
  set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
  set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
  # What find_package(ag) and pkg-config need: OpenBLAS's CMake and pkg-config files (and the library).
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "libopenblas-dev")
  if(TARGET ag_distributed)
    string(APPEND CPACK_DEBIAN_PACKAGE_DEPENDS ", libopenmpi-dev")
  endif()
  if(BUILD_SHARED_LIBS)
    set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # adds libopenblas0 (and libstdc++6...) with their versions
  endif()
  include(CPack)
endif()
