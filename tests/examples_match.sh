#!/bin/sh
# examples_match.sh C_EXAMPLE CXX_EXAMPLE...: run examples/hello (C) and
# each C++ build of examples/hello_cxx on one configuration that writes a
# file and the console, and fail unless every C++ build wrote the same
# bytes as the C one, to the file and to stdout. The lines carry no time,
# so two runs of the same calls are byte for byte equal.
set -eu
c_example=$1
shift
dir=$(mktemp -d /tmp/sluice-examples-XXXXXX)
trap 'rm -rf "$dir"' EXIT
cat >"$dir/hello.ini" <<INI
[sink.console]
plugin = console
stream = stdout
pattern = %L [%n] %m%f

[sink.file]
plugin = file
path = $dir/hello.log
format = text
pattern = %l %n: %m%f

[logger.app]
sinks = console, file
level = debug
field.example = hello
INI
run() { # program output-name
    rm -f "$dir/hello.log"
    NO_COLOR=1 "$1" "$dir/hello.ini" >"$dir/$2.out"
    mv "$dir/hello.log" "$dir/$2.log"
}
run "$c_example" c
lines=$(wc -l <"$dir/c.log")
[ "$lines" -ge 6 ] || { echo "examples_match: the C example logged $lines lines"; cat "$dir/c.log"; exit 1; }
status=0
for cxx in "$@"; do
    run "$cxx" cxx
    for kind in log out; do
        if ! cmp -s "$dir/c.$kind" "$dir/cxx.$kind"; then
            echo "examples_match: $cxx: its $kind differs from $c_example's:"
            diff "$dir/c.$kind" "$dir/cxx.$kind" || true
            status=1
        fi
    done
done
[ $status -eq 0 ] && echo "examples_match: $# C++ build(s) match the C example ($lines lines)"
cat "$dir/c.out"
exit $status
