#!/usr/bin/env bash
# Regenerates Sources/FFTConvONNX/Proto/onnx.pb.swift from Bench/scripts/onnx/onnx.proto (ONNX 1.23, Apache-2.0,
# copied from the `onnx` Python package: site-packages/onnx/onnx.proto).
#
# Needs protoc (Debian: apt-get install -y protobuf-compiler) and protoc-gen-swift of swift-protobuf 1.39.0,
# which this script builds in a scratch package (about 2-10 minutes the first time). CI does not run this:
# the generated file is committed.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
work="${PROTOGEN_DIR:-/tmp/fftconv-protogen}"
mkdir -p "$work/Sources/Dummy"
cat > "$work/Package.swift" <<'MANIFEST'
// swift-tools-version: 5.9
import PackageDescription
let package = Package(name: "protogen",
  dependencies: [.package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0")],
  targets: [.executableTarget(name: "Dummy", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")])])
MANIFEST
echo 'import SwiftProtobuf' > "$work/Sources/Dummy/main.swift"
(cd "$work" && swift build -c release --product protoc-gen-swift)
plugin="$work/.build/release/protoc-gen-swift"
protoc --plugin=protoc-gen-swift="$plugin" --swift_opt=Visibility=Internal \
       --swift_out="$here/Sources/FFTConvONNX/Proto" -I "$here/Bench/scripts/onnx" "$here/Bench/scripts/onnx/onnx.proto"
echo "wrote $here/Sources/FFTConvONNX/Proto/onnx.pb.swift"
