#!/usr/bin/env bash
# tools/check-layers.sh - the include layering, checked on every make test
# (tests/run.sh runs it as the line "check_layers"). Run from the repository
# root. Fails, naming file and line, when:
#
#   1. a user/ module includes a module above it. Bottom to top:
#        common; io; storage; codec (payload codecs);
#        index; meta; store; wire; net; bpfload; rvfd
#      (index and meta sit beside each other on common only; the service
#      modules wire/net/bpfload/rvfd sit on top). A public header counts as
#      the module it belongs to: rvf/error.h common, rvf/io.h io, rvf/dir.h
#      and rvf/format.h storage, rvf/payload.h codec, rvf/index.h index,
#      rvf/meta.h meta, rvf/rvf.h store, rvf/wire.h wire, rvf/svc.h net
#      (librvfsvc's public part: its declarations need only wire.h, and
#      net and bpfload, which implement it, both include it). So user/io/io.h
#      may not include rvf/dir.h. include/rvf/*.h are held to the same table.
#   2. a tool or bench (tools/) includes an internal header ("<module>/x.h"
#      of user/) outside the known violations in the Makefile's
#      TOOLS_INTERNAL (each include printed as "known:"); an entry there
#      that no longer includes internals fails too, so the list only shrinks.
#   3. the Makefile stops compiling tools without -Iuser.
set -u
cd "$(dirname "$0")/.." || exit 1
fail=0
bad() { echo "layer: $*"; fail=1; }

declare -A allow=(
  [common]=""
  [io]="common"
  [storage]="common io"
  [codec]="common storage"
  [index]="common"
  [meta]="common"
  [store]="common io storage codec index meta"
  [wire]="common"
  [net]="common wire"
  [bpfload]="common codec wire net"
  [rvfd]="common io storage codec index meta store wire net bpfload"
)
declare -A public=(
  [error]=common [io]=io [dir]=storage [format]=storage [payload]=codec
  [index]=index [meta]=meta [rvf]=store [wire]=wire [svc]=net
)

# module of an include target: "mod/x.h" -> mod, "rvf/x.h" -> its layer
layer_of() {
  local inc=$1
  case $inc in
    rvf/*.h) local h=${inc#rvf/}; echo "${public[${h%.h}]:-?}";;
    */*) echo "${inc%%/*}";;
    *) echo "";;                          # a sibling header: same module
  esac
}

check_file() {   # file module
  local f=$1 mod=$2 n=0 line inc dep
  while IFS= read -r line; do
    n=$((n + 1))
    [[ $line =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\"([^\"]+)\" ]] || continue
    inc=${BASH_REMATCH[1]}
    dep=$(layer_of "$inc")
    [ -z "$dep" ] || [ "$dep" = "$mod" ] && continue
    if [ "$dep" = "?" ]; then
      bad "$f:$n: includes $inc, a public header with no layer in tools/check-layers.sh"
    elif [ -z "${allow[$dep]+x}" ] && [ ! -d "user/$dep" ]; then
      continue                            # not a user/ module (e.g. libbpf's)
    elif ! [[ " ${allow[$mod]} " == *" $dep "* ]]; then
      bad "$f:$n: $mod includes $inc ($dep is not below $mod)"
    fi
  done < "$f"
}

nfiles=0
for d in user/*/; do
  mod=$(basename "$d")
  if [ -z "${allow[$mod]+x}" ]; then
    bad "user/$mod: a module tools/check-layers.sh does not place; add it to the table"
    continue
  fi
  for f in "$d"*.c "$d"*.h; do
    [ -e "$f" ] || continue
    check_file "$f" "$mod"; nfiles=$((nfiles + 1))
  done
done
for f in include/rvf/*.h; do
  h=$(basename "$f" .h)
  mod=${public[$h]:-}
  if [ -z "$mod" ]; then
    bad "$f: a public header with no layer in tools/check-layers.sh"
    continue
  fi
  check_file "$f" "$mod"; nfiles=$((nfiles + 1))
done

# 2. tools and benches: public headers (and tools/) only
# the assignment and its continuation lines (it may be a single line)
known=$(awk '/^TOOLS_INTERNAL *:=/ { on = 1 } on { print; if ($0 !~ /\\$/) exit }' Makefile |
        sed 's/^TOOLS_INTERNAL *:=//; s/\\$//' | tr -s ' \n' ' ')
is_known() {
  local f=$1 k
  for k in $known; do
    [ "$f" = "$k" ] || [[ $f == "$k"/* ]] && return 0
  done
  return 1
}
declare -A used_known=()
nknown=0
while IFS= read -r f; do
  n=0
  while IFS= read -r line; do
    n=$((n + 1))
    [[ $line =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\"([^\"]+)\" ]] || continue
    inc=${BASH_REMATCH[1]}
    [[ $inc == */* ]] || continue
    top=${inc%%/*}
    [ -d "user/$top" ] || continue
    if is_known "$f"; then
      for k in $known; do
        { [ "$f" = "$k" ] || [[ $f == "$k"/* ]]; } && used_known[$k]=1
      done
      echo "known: $f:$n includes $inc"
      nknown=$((nknown + 1))
    else
      bad "$f:$n: a tool includes the internal header $inc (use include/rvf/*.h, or give it a public API)"
    fi
  done < "$f"
  nfiles=$((nfiles + 1))
done < <(find tools -name '*.c' -o -name '*.h' -o -name '*.cpp' | sort)
for k in $known; do
  [ -n "${used_known[$k]:-}" ] ||
    bad "TOOLS_INTERNAL lists $k, which includes no internal header any more: remove it"
done

# 3. the Makefile compiles tools without -Iuser
grep -Eq '^\$\(B\)/obj/tools/%\.o .*: INC = -Iinclude -Itools$' Makefile ||
  bad "Makefile: tools are no longer compiled with the public include path only"

echo "summary: layers: $nfiles files checked; $nknown known internal includes in the" \
     "$(echo $known | wc -w) TOOLS_INTERNAL entries ($(echo $known))"
exit $fail
