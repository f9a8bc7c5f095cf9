#!/usr/bin/env bash
# scripts/setup.sh: install what irohds needs on Debian 12, build it, test it.
#
#   scripts/setup.sh deps            install missing Debian packages (root, or sudo)
#   scripts/setup.sh build           configure + build into build/
#   scripts/setup.sh test            build, then ctest --test-dir build
#   scripts/setup.sh sanitize-test   ASan+UBSan build in build-asan/, then its ctest
#   scripts/setup.sh fuzz [SECONDS]  scripts/fuzz.sh SECONDS (default 20)
#   scripts/setup.sh all             deps, test, sanitize-test, fuzz
#
# The package list below is the ONE list of what the project needs; keep it
# complete: a fresh machine has nothing but what this script installs.
# Environment: JOBS (parallel build jobs, default 2), BUILD_DIR (default
# build), ASAN_DIR (default build-asan), CTEST_ARGS (extra ctest arguments).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JOBS="${JOBS:-2}"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
ASAN_DIR="${ASAN_DIR:-$ROOT/build-asan}"
PYTHON=/usr/bin/python3

PACKAGES_BUILD=(cmake gcc clang pkg-config make libzmq3-dev libczmq-dev liblmdb-dev
                libsodium-dev libxxhash-dev librust-blake3-dev libclang-rt-14-dev
                libseccomp-dev)
PACKAGES_RUN=(python3 python3-zmq python3-pytest python3-numpy python3-lmdb
              python3-psutil iproute2 lmdb-utils python3-dev groff-base man-db
              nftables iputils-ping iperf3 tcpdump python3-venv python3-pip
              python3-setuptools python3-wheel python3-tqdm)
PACKAGES_BENCH=(b3sum python3-diskcache python3-joblib sysbench serf python3-msgpack
                redis-server)

say () { printf '[setup] %s\n' "$*"; }
die () { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# Every daemon a test or demo starts from here stays off the LAN.
export IROHDS_LAN=0

# Packages from the lists that dpkg does not report as installed.
missing_packages () {
    local pkg status
    for pkg in "${PACKAGES_BUILD[@]}" "${PACKAGES_RUN[@]}" "${PACKAGES_BENCH[@]}"; do
        status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
        [ "$status" = installed ] || printf '%s\n' "$pkg"
    done
}

cmd_deps () {
    command -v dpkg-query >/dev/null || die "not a Debian system (no dpkg-query)"
    local missing
    mapfile -t missing < <(missing_packages)
    if [ "${#missing[@]}" -eq 0 ]; then
        say "all packages present"
        return 0
    fi
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "need root (or sudo) to install: ${missing[*]}"
        sudo=(sudo)
    fi
    say "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Update the lists only when the install cannot find what it needs
    # (a fresh image has empty lists; a warm one needs no network for this).
    if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"; then
        say "apt-get update"
        "${sudo[@]}" apt-get update -q
        "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
    mapfile -t missing < <(missing_packages)
    [ "${#missing[@]}" -eq 0 ] || die "still missing after install: ${missing[*]}"
    say "packages installed"
}

configure_and_build () {  # DIR [cmake args...]
    local dir="$1"; shift
    cmake -S "$ROOT" -B "$dir" -DIROHDS_PYTHON="$PYTHON" "$@"
    cmake --build "$dir" -j"$JOBS"
}

cmd_build () {
    say "building into $BUILD_DIR"
    configure_and_build "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo
}

run_ctest () {  # DIR
    # shellcheck disable=SC2086
    ctest --test-dir "$1" --output-on-failure ${CTEST_ARGS:-}
}

cmd_test () {
    cmd_build
    say "testing $BUILD_DIR"
    run_ctest "$BUILD_DIR"
}

cmd_sanitize_test () {
    # Python tests load the sanitized libirohds.so through ctypes: the
    # interpreter then needs the ASan runtime preloaded and leak checking
    # off (CPython itself "leaks" by design); tests/CMakeLists.txt sets
    # that for the Python tests when IROHDS_SANITIZE is ON.
    say "building ASan+UBSan into $ASAN_DIR"
    configure_and_build "$ASAN_DIR" -DCMAKE_BUILD_TYPE=Debug -DIROHDS_SANITIZE=ON
    say "testing $ASAN_DIR"
    ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}" \
    UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
        run_ctest "$ASAN_DIR"
}

cmd_fuzz () {
    local seconds="${1:-20}"
    [ -f "$ROOT/scripts/fuzz.sh" ] \
        || die "scripts/fuzz.sh not found"
    say "fuzzing, $seconds s per target"
    bash "$ROOT/scripts/fuzz.sh" "$seconds"
}

usage () {
    sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

main () {
    local cmd="${1:-}"
    [ $# -gt 0 ] && shift
    case "$cmd" in
        deps)           cmd_deps ;;
        build)          cmd_build ;;
        test)           cmd_test ;;
        sanitize-test)  cmd_sanitize_test ;;
        fuzz)           cmd_fuzz "$@" ;;
        all)            cmd_deps; cmd_test; cmd_sanitize_test; cmd_fuzz "$@" ;;
        -h|--help|help) usage ;;
        *)              usage >&2; exit 2 ;;
    esac
}

main "$@"
