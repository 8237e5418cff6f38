# What every cross build with Debian's cross toolchains shares; the toolchain file names the triplet and the
# Debian architecture first.
set(CMAKE_C_COMPILER ${graft_cross_triplet}-gcc)
set(CMAKE_CXX_COMPILER ${graft_cross_triplet}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${graft_cross_triplet})
# Libraries and their CMake and pkg-config files come from the target's multiarch directories; header-only Boost,
# nlohmann-json and toml++ from the architecture-independent /usr/include and /usr/share.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${graft_cross_triplet}/pkgconfig:/usr/share/pkgconfig")
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE ${graft_cross_debian_arch})
# graft uses only header-only parts of Boost (Asio, Beast), so the build machine's Boost 1.81 package describes
# them for the target too; its twin for the target would conflict with it.
file(GLOB graft_boost_dir /usr/lib/x86_64-linux-gnu/cmake/Boost-1.81*)
if(graft_boost_dir)
  set(Boost_DIR ${graft_boost_dir} CACHE PATH "Boost's header-only CMake package, shared with the build machine")
endif()
