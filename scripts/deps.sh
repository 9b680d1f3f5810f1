#!/usr/bin/env bash
# Install what vessel needs to build, test and benchmark, with apt-get, and
# only what is missing. Idempotent: a second run with everything present is a
# dpkg query and nothing else.
set -euo pipefail

pkgs=(
  # build
  build-essential meson ninja-build pkg-config clang llvm lld libclang-rt-14-dev
  libfdt-dev libjson-c-dev libseccomp-dev libslirp-dev libglib2.0-dev libcmocka-dev zlib1g-dev
  # riscv64 guests and user-mode programs
  gcc-riscv64-linux-gnu g++-riscv64-linux-gnu libc6-dev-riscv64-cross
  linux-source-6.1 bc flex bison libelf-dev libssl-dev cpio xz-utils
  dpkg-dev kmod rsync
  # x86 test guests and kernels
  nasm linux-image-cloud-amd64
  # peers and tools for tests and benchmarks
  qemu-user qemu-system-misc qemu-system-x86 opensbi
  runc podman containerd busybox-static hyperfine gdb-multiarch e2fsprogs
  iproute2 python3 uidmap time curl xfsprogs
  socat  # a plain socket client for the QMP tests (tests/integration/qmp-*.sh)
  tcl  # rvtest: SQLite generates its amalgamation with tclsh (scripts/riscv-programs.sh)
)

missing=()
for p in "${pkgs[@]}"; do
  st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$st" = installed ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#pkgs[@]} packages present"
  exit 0
fi

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "deps: installing ${#missing[@]} missing packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
echo "deps: done"
