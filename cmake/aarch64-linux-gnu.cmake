# Cross-compiling graft-agent for 64-bit ARM boards (Raspberry Pi 3/4/5, Jetson) with Debian's cross toolchain
# (crossbuild-essential-arm64) and the :arm64 -dev packages installed through multiarch.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(graft_cross_triplet aarch64-linux-gnu)
set(graft_cross_debian_arch arm64)
include(${CMAKE_CURRENT_LIST_DIR}/cross-debian.cmake)
