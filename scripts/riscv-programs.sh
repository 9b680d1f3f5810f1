#!/usr/bin/env bash
# Cross-build real programs nobody here wrote (Lua 5.4, SQLite 3, bzip2, GNU
# sed, LAME, xz) as static riscv64 binaries from their Debian source
# packages, for the `vessel exec` tests and benchmarks.
#
#   scripts/riscv-programs.sh        builds (or finds cached) and prints the bin dir
#
# Output: $VESSEL_CACHE/programs/<hash>/bin/{lua,sqlite3,bzip2,sed,lame,xz}, where <hash>
# is a hash of this script (which names the packages and flags). Idempotent:
# a second run finds the stamp file and returns at once. Progress on stderr,
# the bin directory on stdout. Exit status 2: a requirement is missing (a
# tool, or the Debian sources cannot be fetched); 1: a build failed.
#
# Needs: gcc-riscv64-linux-gnu, dpkg-dev (apt-get source), tcl (SQLite
# generates its amalgamation with tclsh), a deb-src entry (added below,
# derived from the machine's own deb entry, when there is none).
set -euo pipefail

cache=${VESSEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vessel}
self=$(readlink -f "$0")
hash=$(sha256sum "$self" | cut -c1-16)
out=$cache/programs/$hash
bin=$out/bin
CC=${RISCV_CC:-riscv64-linux-gnu-gcc}
CFLAGS="-O2 -static"
PKGS=(lua5.4 sqlite3 bzip2 sed lame xz-utils)
HOST=riscv64-linux-gnu

say() { echo "riscv-programs: $*" >&2; }

if [ -e "$out/stamp" ]; then
    say "cached in $bin"
    echo "$bin"
    exit 0
fi
# one builder at a time (tests and benches may call this concurrently)
mkdir -p "$cache/programs"
exec 9>"$cache/programs/.lock"
flock 9
if [ -e "$out/stamp" ]; then echo "$bin"; exit 0; fi

for t in "$CC" dpkg-source apt-get tclsh make; do
    command -v "$t" >/dev/null || { say "missing tool $t (run scripts/deps.sh)"; exit 2; }
done

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo

# A deb-src entry for the machine's own suites, derived from its deb entry
# (no host name written anywhere by us).
ensure_deb_src() {
    if grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        return 0
    fi
    local src=/etc/apt/sources.list.d/debian.sources
    [ -r "$src" ] || { say "no $src to derive a deb-src entry from"; exit 2; }
    say "adding a deb-src entry derived from $src"
    sed 's/^Types: deb$/Types: deb-src/' "$src" | $SUDO tee /etc/apt/sources.list.d/vessel-deb-src.sources >/dev/null
    $SUDO apt-get update -qq
}

mkdir -p "$out/src" "$bin"
work=$out/src
ensure_deb_src

# Fetch (and unpack with the Debian patches applied) every package.
for p in "${PKGS[@]}"; do
    if ! compgen -G "$work/$p-*/" >/dev/null && ! compgen -G "$work/${p%5.4}*-[0-9]*/" >/dev/null; then
        say "fetching source of $p"
        (cd "$work" && apt-get source -qq "$p" >/dev/null 2>"$work/$p.fetch.log") ||
            { (cd "$work" && apt-get update -qq && apt-get source -qq "$p" >/dev/null 2>"$work/$p.fetch.log") ||
              { say "apt-get source $p failed (no deb-src access?), see $work/$p.fetch.log"; exit 2; }; }
    fi
done

dir_of() { local d; for d in "$work"/"$1"-*/; do [ -d "$d" ] && { echo "${d%/}"; return; }; done; say "no source dir for $1"; exit 1; }

# --- Lua 5.4: the interpreter (all of src/ but luac.c), POSIX features, no dlopen.
if [ ! -x "$bin/lua" ]; then
    d=$(dir_of lua5.4)
    say "building lua from $(basename "$d")"
    # Debian's patch includes a header its build generates; write it here.
    echo '#define DEB_HOST_MULTIARCH "riscv64-linux-gnu"' >"$d/src/lua5.4-deb-multiarch.h"
    (cd "$d/src" && $CC $CFLAGS -std=gnu99 -DLUA_USE_POSIX -o "$bin/lua.tmp" \
        $(ls *.c | grep -v '^luac\.c$') -lm) 2>"$out/lua.build.log" ||
        { say "lua build failed, see $out/lua.build.log"; exit 1; }
    mv "$bin/lua.tmp" "$bin/lua"
fi

# --- SQLite: generate the amalgamation and shell.c with the host toolchain
# (configure + make targets that only run lemon/tclsh), then cross-compile.
if [ ! -x "$bin/sqlite3" ]; then
    d=$(dir_of sqlite3)
    say "generating sqlite3.c amalgamation from $(basename "$d") (host tools)"
    mkdir -p "$d/bld"
    (cd "$d/bld" && { [ -e Makefile ] || ../configure --disable-tcl --disable-readline >/dev/null; } &&
        make -j2 sqlite3.c shell.c >/dev/null) >"$out/sqlite.gen.log" 2>&1 ||
        { say "sqlite amalgamation failed, see $out/sqlite.gen.log"; exit 1; }
    say "building sqlite3 (cross, about a minute)"
    (cd "$d/bld" && $CC $CFLAGS -DSQLITE_THREADSAFE=0 -DSQLITE_OMIT_LOAD_EXTENSION \
        -DHAVE_USLEEP=1 -o "$bin/sqlite3.tmp" shell.c sqlite3.c -lm) 2>"$out/sqlite.build.log" ||
        { say "sqlite3 build failed, see $out/sqlite.build.log"; exit 1; }
    mv "$bin/sqlite3.tmp" "$bin/sqlite3"
fi

# --- bzip2: the command-line compressor and its library.
if [ ! -x "$bin/bzip2" ]; then
    d=$(dir_of bzip2)
    say "building bzip2 from $(basename "$d")"
    (cd "$d" && $CC $CFLAGS -D_FILE_OFFSET_BITS=64 -o "$bin/bzip2.tmp" blocksort.c huffman.c \
        crctable.c randtable.c compress.c decompress.c bzlib.c bzip2.c) 2>"$out/bzip2.build.log" ||
        { say "bzip2 build failed, see $out/bzip2.build.log"; exit 1; }
    mv "$bin/bzip2.tmp" "$bin/bzip2"
fi

# autoconf_build NAME SRCPKG BUILT-PATH MAKE-LDFLAGS CONFIGURE-ARGS...: a
# cross configure and make in the unpacked source, the program copied to
# $bin/NAME. MAKE-LDFLAGS: -all-static where libtool links the program
# (its -static keeps libc shared)
autoconf_build() {
    local name=$1 pkg=$2 built=$3 mk=$4; shift 4
    [ -x "$bin/$name" ] && return 0
    local d
    d=$(dir_of "$pkg")
    say "building $name from $(basename "$d") (configure + make, a few minutes)"
    (cd "$d" && ./configure --host=$HOST CC="$CC" CFLAGS=-O2 LDFLAGS=-static "$@" &&
        make -j2 LDFLAGS="$mk") >"$out/$name.build.log" 2>&1 ||
        { say "$name build failed, see $out/$name.build.log"; exit 1; }
    if "${CC%gcc}readelf" -l "$d/$built" | grep -q INTERP; then
        say "$name was linked dynamically, see $out/$name.build.log"; exit 1
    fi
    cp "$d/$built" "$bin/$name.tmp"
    mv "$bin/$name.tmp" "$bin/$name"
}

# --- GNU sed (regular expressions, string building)
autoconf_build sed sed sed/sed -static --disable-nls --without-selinux --disable-acl
# --- LAME, the MP3 encoder (floating point: psychoacoustics, MDCT)
autoconf_build lame lame frontend/lame -all-static --disable-shared --enable-static --disable-gtktest \
    --disable-frontend-decoder --disable-nls
# --- xz (LZMA2 compression)
autoconf_build xz xz-utils src/xz/xz -all-static --disable-shared --disable-nls --disable-doc \
    --disable-scripts --disable-lzmadec --disable-lzmainfo --disable-xzdec

# ELF e_machine 243 (0xf3) is RISC-V.
for p in lua sqlite3 bzip2 sed lame xz; do [ "$(od -An -tu2 -j18 -N2 "$bin/$p" | tr -d ' ')" = 243 ] || { say "$bin/$p is not a RISC-V binary"; exit 1; }; done
touch "$out/stamp"
say "built in $bin"
echo "$bin"
