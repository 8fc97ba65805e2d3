// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "UniSeg",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "train", targets: ["train"]),
        .library(name: "Autograd", targets: ["Autograd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C libraries from Debian, one system-library target each.
        .systemLibrary(
            name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),

        // Tensors, the reverse-mode tape, ops, modules and optimisers.
        .target(
            name: "Autograd", dependencies: ["CBLAS"]),

        // The `train` command.
        .executableTarget(
            name: "train",
            dependencies: [
                "Autograd",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // Fixtures/ holds JSON made by the Python scripts beside it; tests read it by path.
        .testTarget(name: "AutogradTests", dependencies: ["Autograd"], exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v5]
)
