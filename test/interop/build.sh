#!/usr/bin/env bash
# Builds the Go half of the interop suite from Debian's Go packages (GOPATH mode, offline) into
# test/interop/.build/, which is gitignored. The build is keyed by a hash of the sources, the proto
# and the toolchain: an unchanged tree costs one hash, not a compile.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$here/.build"

for cmd in go protoc protoc-gen-go; do
  command -v "$cmd" >/dev/null 2>&1 || { echo "interop: $cmd not found (see the Debian packages in .ci/run)" >&2; exit 2; }
done
for pkg in google.golang.org/grpc go.etcd.io/etcd/clientv3/naming/endpoints github.com/golang/protobuf/proto \
  github.com/grpc-ecosystem/go-grpc-prometheus go.opentelemetry.io/otel/sdk/trace \
  github.com/prometheus/client_golang/prometheus; do
  [ -d "/usr/share/gocode/src/$pkg" ] || { echo "interop: Go package $pkg not found in /usr/share/gocode (see .ci/run for the Debian packages)" >&2; exit 2; }
done

key="$( (cd "$here/go" && find . -type f -name '*.go' | LC_ALL=C sort | xargs sha256sum; sha256sum "$root/proto/test.proto" "$here/build.sh"; go version; protoc --version) | sha256sum | cut -c1-16)"
if [ -f "$out/key" ] && [ "$(cat "$out/key")" = "$key" ] && [ -x "$out/bin/interop-server" ] && [ -x "$out/bin/interop-client" ]; then
  exit 0
fi

started=$(date +%s%N)
rm -rf "$out/bin" "$out/gopath" "$out/key"
pb="$out/gopath/src/weftinterop/testpb"
mkdir -p "$pb" "$out/bin"
protoc -I"$root/proto" --go_out=plugins=grpc,Mtest.proto=weftinterop/testpb:"$pb" "$root/proto/test.proto"
sed -i 's/^package weft_test$/package testpb/' "$pb/test.pb.go"

export GO111MODULE=off GOFLAGS= GOPATH="$out/gopath:$here/go:/usr/share/gocode"
export GOCACHE="${GOCACHE:-$out/gocache}"
# One invocation, so the two programs share the compile of their dependencies; no debug info
# (-s -w) keeps the link short.
go build -ldflags='-s -w' -o "$out/bin/" weftinterop/interop-server weftinterop/interop-client
echo "$key" >"$out/key"
echo "interop: built the Go programs in $(( ($(date +%s%N) - started) / 1000000 )) ms" >&2
