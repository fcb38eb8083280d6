#!/bin/sh
# no_guard.sh CXX INCLUDE_DIRS FILE: compile FILE (C++ logging calls) at -O0
# and -O2 and fail if the object refers to a static-initialisation guard:
# every call site's descriptor must be constant-initialised. INCLUDE_DIRS
# is ':'-separated, as for check.sh.
set -eu
cxx=$1; incs=$2; file=$3
inc=""
old_ifs=$IFS; IFS=:
for dir in $incs; do inc="$inc -I $dir"; done
IFS=$old_ifs
dir=$(mktemp -d /tmp/sluice-no-guard-XXXXXX)
trap 'rm -rf "$dir"' EXIT
for opt in -O0 -O2; do
    $cxx -std=c++17 -D_GNU_SOURCE $opt $inc -c "$file" -o "$dir/call.o"
    if nm "$dir/call.o" | grep -q __cxa_guard; then
        echo "no_guard: $file at $opt needs a guard variable:" >&2
        nm -C "$dir/call.o" | grep -i guard >&2
        exit 1
    fi
    # the descriptors are data, never initialised by code at run time
    if nm "$dir/call.o" | grep -q -E '_GLOBAL__sub_I|__static_initialization'; then
        echo "no_guard: $file at $opt has a static initialiser" >&2
        exit 1
    fi
done
echo "no_guard: $file: no guard variable, no static initialiser"
