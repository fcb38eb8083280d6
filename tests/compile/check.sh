#!/bin/sh
# check.sh [--fails-with REGEX] CC INCLUDE_DIRS FILE [STD]: compile FILE with
# format warnings as errors; the exit status says whether it compiled. With
# --fails-with it is the other way round: success means FILE failed to
# compile with a message matching REGEX (the format check, a static_assert),
# not on some other error. INCLUDE_DIRS is ':'-separated (the source tree's
# include/ and the build tree's, which holds the generated sluice/version.h).
# STD defaults to c11 for a .c file and c++17 for a .cpp file.
expect=
if [ "$1" = --fails-with ]; then
    expect=$2
    shift 2
fi
cc=$1; incs=$2; file=$3
case $file in
*.cpp) std=${4:-c++17} ;;
*) std=${4:-c11} ;;
esac
inc=""
old_ifs=$IFS; IFS=:
for dir in $incs; do inc="$inc -I $dir"; done
IFS=$old_ifs
if [ -z "$expect" ]; then
    exec $cc -std="$std" -D_GNU_SOURCE -Wall -Wextra -Werror=format -Werror $inc -fsyntax-only "$file"
fi
if out=$($cc -std="$std" -D_GNU_SOURCE -Wall -Wextra -Werror=format $inc -fsyntax-only "$file" 2>&1); then
    echo "check.sh: $file compiled, but it must not" >&2
    exit 1
fi
printf '%s\n' "$out"
if ! printf '%s\n' "$out" | grep -q -E -e "$expect"; then
    echo "check.sh: $file failed to compile, but not with /$expect/" >&2
    exit 1
fi
