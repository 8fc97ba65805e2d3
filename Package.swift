// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "UniSeg",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "train", targets: ["train"]),
        .library(name: "Autograd", targets: ["Autograd"]),
        .library(name: "HDF5", targets: ["HDF5"]),
    ],
    dependencies: [
        // The `train` command line: subcommands, options, help text.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // YAML configs.
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // C libraries from Debian, one system-library target each (module map + shim header).
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", path: "Sources/CHDF5", pkgConfig: "hdf5",
                       providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CTurboJPEG", path: "Sources/CTurboJPEG", pkgConfig: "libturbojpeg",
                       providers: [.apt(["libturbojpeg0-dev"])]),

        // An AVX-512 SGEMM kernel (C intrinsics), used instead of OpenBLAS's pinned Haswell kernels
        // on CPUs that have AVX-512. Always optimised: debug test builds would otherwise run it at -O0.
        .target(name: "CGEMM", cSettings: [.unsafeFlags(["-O2"])]),

        // Tensors, the reverse-mode tape, ops, modules and optimisers. The only user of BLAS.
        .target(name: "Autograd", dependencies: ["CBLAS", "CGEMM"]),

        // Exact minimum-cost assignment and the Mask2Former matcher (cost matrices from
        // model outputs and targets, no gradient).
        .target(name: "Matching", dependencies: ["Autograd"]),

        // The training losses: point-sampled mask losses, classification, ScaleDet label-space
        // losses, Detic's image-label loss, box projection, and the set criterion joining them.
        .target(name: "Losses", dependencies: ["Autograd", "Matching"]),

        // Metrics that agree with the field's reference tools: COCO box/mask mAP (with the COCO
        // mask API), panoptic quality, mIoU; streaming evaluators and their file readers.
        .target(name: "Evaluation", dependencies: ["Images"]),

        // Image files: PNG through libpng, JPEG through libjpeg-turbo.
        .target(name: "Images", dependencies: ["CPNG", "CTurboJPEG"]),

        // DaTaSeg multi-dataset sampling, repeat-factor sampling, exact resume.
        .target(name: "Samplers", dependencies: ["Autograd"]),

        // Dataset shards (HDF5 layout version 1), the synthetic multi-dataset world,
        // augmentation and the prefetching loader.
        .target(name: "Datasets", dependencies: ["Autograd", "HDF5", "Images", "Evaluation", "Samplers"]),

        // The Mask2Former-style model (m2f-tiny and its configurable relatives).
        .target(name: "Models", dependencies: ["Autograd"]),

        // The training loop, its config schema, checkpoints and evaluation.
        .target(name: "Trainer", dependencies: [
            "Autograd", "Models", "Losses", "Matching", "Datasets", "Samplers", "Evaluation", "HDF5", "Images",
            .product(name: "Yams", package: "Yams"),
        ]),

        // HDF5 files from Swift (datasets, groups, atomic writes) and parameter files.
        // The only user of the HDF5 C library.
        .target(name: "HDF5", dependencies: ["CHDF5", "Autograd"]),

        // The `train` command.
        .executableTarget(
            name: "train",
            dependencies: [
                "Autograd", "HDF5", "Matching", "Losses", "Evaluation", "Models", "Datasets", "Trainer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
            ]),

        // Test helpers (the gradient check) shared by the test suites.
        .target(name: "TestSupport", dependencies: ["Autograd"]),

        // Fixtures/ holds JSON made by the Python scripts beside it; tests read it by path.
        .testTarget(name: "AutogradTests", dependencies: ["Autograd", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "MatchingTests", dependencies: ["Matching", "Autograd"], exclude: ["Fixtures"]),
        .testTarget(name: "LossesTests", dependencies: ["Losses", "Matching", "Autograd", "TestSupport"], exclude: ["Fixtures"]),
        // Fixtures/parity holds the PyTorch reference files of shared/reference/parity.
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Autograd", "HDF5", "Losses", "Matching", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "SamplersTests", dependencies: ["Samplers"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "HDF5", "Images", "Autograd", "Samplers"], exclude: ["Fixtures"]),
        .testTarget(name: "TrainerTests", dependencies: ["Trainer", "Models", "Datasets", "Evaluation", "Images"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation"], exclude: ["Fixtures"]),
        .testTarget(name: "TrainCommandTests", dependencies: ["train"]),
        .testTarget(name: "HDF5Tests", dependencies: ["HDF5", "Autograd"], exclude: ["Fixtures"]),
        // Links and round-trips each image/compression C library the data pipeline will use.
        .testTarget(name: "CLibraryTests", dependencies: ["CZlib", "CPNG", "CTurboJPEG"]),
    ],
    swiftLanguageModes: [.v5]
)
