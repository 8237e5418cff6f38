# Cross-compiling graft-agent for 32-bit ARM boards (Raspberry Pi 2/3/Zero 2 running 32-bit Raspberry Pi OS) with
# Debian's cross toolchain (crossbuild-essential-armhf) and the :armhf -dev packages installed through multiarch.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(graft_cross_triplet arm-linux-gnueabihf)
set(graft_cross_debian_arch armhf)
include(${CMAKE_CURRENT_LIST_DIR}/cross-debian.cmake)
