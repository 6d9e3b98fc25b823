// swift-tools-version: 5.9
//
// FFTConv: CNN inference on CPUs with FFT, direct SIMD, GEMM and Winograd convolutions.
//
// Targets, dependencies pointing down only:
//
//   fftconv, fftconv-bench (Bench/) command line: argument parsing and printing only
//        |
//   FFTConvONNX                     ONNX protobuf -> Graph (swift-protobuf; only its users pull it in)
//        |
//   FFTConv                         public API: tensors, descriptors, prepared operators, planner
//        |
//   FFTConvKernels                  pure compute over raw pointers: no allocation, no policy
//        |
//   CFFTW, CFFTConvShim             FFTW single precision (system library) and a C shim for build facts
//
// Target CPU. Swift's SIMD types only become vector FMA instructions when the compiler is told the CPU.
// On x86-64 this manifest therefore passes `-march=native` (or the value of FFTCONV_MARCH, e.g.
// `x86-64-v3` for a binary that must run on any AVX2+FMA machine). Those are `unsafeFlags`, which SwiftPM
// refuses in a dependency that is required by version (`from:`); a dependent package either uses a
// `branch:`, `revision:` or `path:` dependency, or builds with FFTCONV_PORTABLE=1 (no unsafe flags) and
// passes the CPU itself: `swift build -c release -Xcc -march=native`. See Docs/Building.md.
// aarch64 needs no flag: NEON and FMA are part of its baseline.

import PackageDescription

let environment = Context.environment
let portable = (environment["FFTCONV_PORTABLE"] ?? "0") != "0"
let march = environment["FFTCONV_MARCH"] ?? "native"

#if arch(x86_64)
let cpuSwiftFlags: [SwiftSetting] = portable ? [] : [.unsafeFlags(["-Xcc", "-march=\(march)"])]
let cpuCFlags: [CSetting] = portable ? [] : [.unsafeFlags(["-march=\(march)"])]
#else
let cpuSwiftFlags: [SwiftSetting] = []
let cpuCFlags: [CSetting] = []
#endif

let package = Package(
    name: "FFTConv",
    products: [
        .library(name: "FFTConv", targets: ["FFTConv"]),
        .library(name: "FFTConvONNX", targets: ["FFTConvONNX"]),
        .executable(name: "fftconv", targets: ["fftconv"]),
        .executable(name: "fftconv-bench", targets: ["fftconv-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CFFTW",
            path: "Sources/CFFTW",
            pkgConfig: "fftw3f",
            providers: [.apt(["libfftw3-dev", "pkg-config"])]
        ),
        .target(
            name: "CFFTConvShim",
            path: "Sources/CFFTConvShim",
            cSettings: cpuCFlags
        ),
        .target(
            name: "FFTConvKernels",
            dependencies: ["CFFTConvShim"],
            path: "Sources/FFTConvKernels",
            swiftSettings: cpuSwiftFlags
        ),
        .target(
            name: "FFTConv",
            dependencies: ["FFTConvKernels", "CFFTW", "CFFTConvShim"],
            path: "Sources/FFTConv",
            swiftSettings: cpuSwiftFlags
        ),
        .target(
            name: "FFTConvONNX",
            dependencies: ["FFTConv", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Sources/FFTConvONNX"
        ),
        .executableTarget(
            name: "fftconv",
            dependencies: ["FFTConv", "FFTConvONNX", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/fftconv",
            swiftSettings: cpuSwiftFlags
        ),
        .executableTarget(
            name: "fftconv-bench",
            dependencies: [
                "FFTConv",
                "FFTConvONNX",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Bench/fftconv-bench",
            swiftSettings: cpuSwiftFlags
        ),
        .testTarget(
            name: "FFTConvTests",
            dependencies: ["FFTConv", "FFTConvKernels", "FFTConvONNX"],
            path: "Tests/FFTConvTests",
            exclude: ["Fixtures"],  // read from the source tree by path (ONNXTests.fixtures), not bundled
            swiftSettings: cpuSwiftFlags
        ),
    ]
)
