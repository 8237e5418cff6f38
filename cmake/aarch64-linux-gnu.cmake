# Cross-compiling graft-agent for 64-bit ARM boards (Raspberry Pi 3/4/5, Jetson) with Debian's cross toolchain
# (crossbuild-essential-arm64) and the :arm64 -dev packages installed through multiarch.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# Libraries and their CMake and pkg-config files come from the arm64 multiarch directories; header-only Boost and
# nlohmann-json from the architecture-independent /usr/include and /usr/share.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE arm64)
# graft uses only header-only parts of Boost (Asio, Beast), so the build machine's Boost 1.81 package describes
# them for the target too; its arm64 twin would conflict with it.
file(GLOB graft_boost_dir /usr/lib/x86_64-linux-gnu/cmake/Boost-1.81*)
if(graft_boost_dir)
  set(Boost_DIR ${graft_boost_dir} CACHE PATH "Boost's header-only CMake package, shared with the build machine")
endif()
