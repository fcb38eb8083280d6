#!/bin/sh
# check.sh CC INCLUDE_DIR FILE [INCLUDE_DIR...]: compile FILE with format
# warnings as errors; the exit status says whether it compiled. The extra
# directories come first (the build tree's include/, which holds the
# generated sluice/version.h).
cc=$1; inc=$2; file=$3
shift 3
extra=""
for dir in "$@"; do extra="$extra -I $dir"; done
exec $cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror=format -Werror $extra -I "$inc" -fsyntax-only "$file"
