# Cross-compiling graft-agent for 32-bit ARM boards (Raspberry Pi 2/3/Zero 2 running 32-bit Raspberry Pi OS) with
# Debian's cross toolchain (crossbuild-essential-armhf) and the :armhf -dev packages installed through multiarch.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(graft_cross_triplet arm-linux-gnueabihf)
set(graft_cross_debian_arch armhf)
# GCC notes on every std::vector of 8-byte-aligned elements that their argument passing changed in GCC 7.1
# (-Wpsabi): it concerns mixing objects built by GCC before 7.1, which graft never does.
set(CMAKE_CXX_FLAGS_INIT "-Wno-psabi")
include(${CMAKE_CURRENT_LIST_DIR}/cross-debian.cmake)
