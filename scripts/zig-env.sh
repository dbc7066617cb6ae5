# Sourced by build.sh and test.sh: the environment of the release (glibc 2.17) build.
# `cargo zigbuild … --target "$ZIG_TARGET"` (and `napi build -x --target "$ZIG_TARGET"`)
# build with it; everything else is plain cargo.
export CMAKE="$PWD/.tools/bin/cmake" CARGO_TARGET_DIR="$PWD/target/static"
export PATH="$PWD/.tools/zig-bin:$PATH"
# cargo-zigbuild reads the glibc version to link against from the target's suffix.
# (The release workflow sets aarch64-unknown-linux-gnu.2.17 on its arm64 runner.)
export ZIG_TARGET="${ZIG_TARGET:-x86_64-unknown-linux-gnu.2.17}"
# zig's clang (LLVM 20) refuses libdeflate's AVX-512 code paths unless 512-bit vectors
# are allowed: -mevex512 allows them where AVX-512 is enabled, which libdeflate does
# only in the functions it picks at run time after checking the CPU.
export CFLAGS_x86_64_unknown_linux_gnu="-mevex512"
