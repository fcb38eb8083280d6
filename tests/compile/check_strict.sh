#!/bin/sh
# check_strict.sh CC INCLUDE_DIR FILE: compile FILE as strict ISO C11
# (-pedantic, no feature-test macro of our own) with warnings as errors;
# the exit status says whether it compiled. For sluice/sink.h, which a
# plugin may include in that mode.
cc=$1; inc=$2; file=$3
exec $cc -std=c11 -pedantic -Wall -Wextra -Werror -I "$inc" -fsyntax-only "$file"
