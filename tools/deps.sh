#!/usr/bin/env bash
# Install what rvf needs to build, test and benchmark on Debian 12 (bookworm).
# Called by `make deps` and by the Makefile when a required tool or header is
# missing. Idempotent: installs only packages that are not already present.
set -euo pipefail

PKGS=(
  build-essential gcc g++ make pkg-config
  clang llvm                       # bpf/ programs: clang -target bpf, llvm-strip
  libbpf-dev bpftool               # eBPF loader and inspection
  libxdp-dev                       # AF_XDP sockets (xsk.h moved from libbpf to libxdp)
  liburing-dev                     # io_uring backend
  libcmocka-dev                    # unit tests
  libxxhash-dev                    # XXH3 checksums
  libssl-dev                       # SHA-256 (libcrypto)
  libjansson-dev                   # JSON for the CLI and filters
  libhnswlib-dev                   # benchmark anchor (C++ shim, bench only)
  dataset-fashion-mnist            # default real data set
  iproute2                         # veth / netns tests
  linux-libc-dev
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
