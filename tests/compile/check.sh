#!/bin/sh
# compile.sh CC INCLUDE_DIR FILE: compile FILE with format warnings as
# errors; the exit status says whether it compiled.
cc=$1; inc=$2; file=$3
exec $cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror=format -Werror -I "$inc" -fsyntax-only "$file"
