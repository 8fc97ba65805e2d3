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
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev"])]),
        .systemLibrary(name: "CTurboJPEG", path: "Sources/CTurboJPEG", pkgConfig: "libturbojpeg",
                       providers: [.apt(["libturbojpeg0-dev"])]),

        // Our C kernels, each chosen at run time on the CPU's features: an AVX-512 SGEMM (used instead
        // of OpenBLAS's pinned Haswell kernels where AVX-512 is present), the matcher's
        // elementwise pass and bilinear point sampling (AVX2 or portable). Always optimised: debug test builds would
        // otherwise run them at -O0.
        .target(name: "CGEMM", cSettings: [.unsafeFlags(["-O2"])]),

        // COCO instance files (ground truth, results) parsed by simdjson (Debian's libsimdjson-dev)
        // into flat arrays: `train score instances` spent most of its time in Foundation's JSON.
        .target(name: "CSimdJSON", cxxSettings: [.unsafeFlags(["-O2"])], linkerSettings: [.linkedLibrary("simdjson")]),

        // What every module may use and nothing else does: the seeded RNG, the one parallel map and
        // thread policy, the one atomic file writer, nearest-name suggestions, located errors.
        .target(name: "Core"),

        // Tensors, the reverse-mode tape, ops, modules and optimisers. The only user of BLAS.
        .target(name: "Autograd", dependencies: ["Core", "CBLAS", "CGEMM"]),

        // What the model is supervised with: per-image and batch targets (masks, boxes, image
        // labels), mask crops, and the unified label space over every dataset's classes.
        .target(name: "Targets", dependencies: ["Autograd", "Core"]),

        // Exact minimum-cost assignment and the Mask2Former matcher (cost matrices from
        // model outputs and targets, no gradient).
        .target(name: "Matching", dependencies: ["Autograd", "CGEMM", "Core", "Targets"]),

        // The training losses: point-sampled mask losses, classification, ScaleDet label-space
        // losses, Detic's image-label loss, box projection, and the set criterion joining them.
        .target(name: "Losses", dependencies: ["Autograd", "Core", "Matching", "Targets"]),

        // The COCO mask API (run-length encoding, polygons, areas, boxes, IoU), bit-identical to
        // pycocotools': a data structure shared by the converters and the metrics.
        .target(name: "COCOMask", dependencies: ["Core"]),

        // Metrics that agree with the field's reference tools: COCO box/mask mAP, panoptic
        // quality, mIoU; the one evaluator interface (`DatasetEvaluator`), the prediction dump.
        .target(name: "Evaluation", dependencies: ["COCOMask", "Core", "CSimdJSON", "Images"]),

        // Image files: PNG through libpng, JPEG through libjpeg-turbo.
        .target(name: "Images", dependencies: ["Core", "CPNG", "CTurboJPEG"]),

        // DaTaSeg multi-dataset sampling, repeat-factor sampling, exact resume.
        .target(name: "Samplers", dependencies: ["Core"]),

        // Dataset shards (HDF5 layout version 1), converters, the synthetic multi-dataset world,
        // augmentation, and the prefetching loader that collates training batches.
        .target(name: "Datasets", dependencies: ["Autograd", "COCOMask", "Core", "HDF5", "Images", "Samplers", "Targets"]),

        // The class-name text encoder (all-MiniLM-L6-v2 on our autograd: safetensors weights,
        // WordPiece tokenizer, BERT, mean pooling), so any vocabulary is embedded without Python.
        .target(name: "TextEncoder", dependencies: ["Autograd", "Core"]),

        // The Mask2Former-style model (m2f-tiny and its configurable relatives) and its
        // post-processing (Mask2Former's semantic, panoptic and instance inference).
        .target(name: "Models", dependencies: ["Autograd", "Core"]),

        // The training run: config, the training step, hooks, checkpoints, evaluation.
        .target(name: "Trainer", dependencies: [
            "Autograd", "COCOMask", "Communication", "Core", "Datasets", "Evaluation", "HDF5", "Images", "Losses", "Matching", "Models",
            "Samplers", "Targets", "TextEncoder", .product(name: "Yams", package: "Yams"),
        ]),

        // HDF5 files from Swift (datasets, groups, atomic writes) and parameter files.
        // The only user of the HDF5 C library.
        .target(name: "HDF5", dependencies: ["CHDF5", "Core"]),

        // The processes of a data-parallel run (Open MPI when started by `mpirun`, else one
        // process) and their collectives. Only the trainer uses it.
        .target(name: "Communication", dependencies: ["CMPI"]),

        // The options every command that reads a config shares (`--config`, `--set`).
        .target(name: "CommandLineOptions", dependencies: ["Trainer", .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        // `train bench ...`: speed of the ops, the matcher, the scorer, the loader and the whole
        // training step, each beside its reference (OpenBLAS, scipy, pycocotools, PyTorch).
        .target(name: "Benchmarks", dependencies: [
            "Autograd", "CommandLineOptions", "Core", "Datasets", "Evaluation", "Images", "Losses", "Matching", "Models", "Samplers",
            "Targets", "Trainer", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // The `train` command.
        .executableTarget(
            name: "train",
            dependencies: [
                "Autograd", "Benchmarks", "COCOMask", "CommandLineOptions", "Communication", "Core", "Datasets", "Evaluation", "HDF5", "Images", "Matching", "Losses", "Models", "Targets", "TextEncoder", "Trainer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // Test helpers (the gradient check) shared by the test suites.
        .target(name: "TestSupport", dependencies: ["Autograd", "Core"]),

        // Fixtures/ holds JSON made by the Python scripts beside it; tests read it by path.
        .testTarget(name: "CoreTests", dependencies: ["Core"]),
        .testTarget(name: "AutogradTests", dependencies: ["Autograd", "CGEMM", "Core", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "MatchingTests", dependencies: ["Matching", "Autograd", "CGEMM", "Core", "Targets"], exclude: ["Fixtures"]),
        .testTarget(name: "LossesTests", dependencies: ["Losses", "Matching", "Autograd", "Core", "Targets", "TestSupport"], exclude: ["Fixtures"]),
        // Fixtures/parity holds the PyTorch reference files of docs/m2f-tiny.md's parity check.
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Autograd", "Core", "Datasets", "HDF5", "Losses", "Matching", "Targets",
                                                        "TestSupport", "Trainer"], exclude: ["Fixtures"]),
        .testTarget(name: "SamplersTests", dependencies: ["Samplers", "Core"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "COCOMask", "Core", "HDF5", "Images", "Autograd", "Samplers", "Targets"], exclude: ["Fixtures"]),
        .testTarget(name: "TrainerTests", dependencies: ["Trainer", "Autograd", .product(name: "Yams", package: "Yams"), "COCOMask", "Core", "Models", "Datasets", "Evaluation", "HDF5", "Images", "Targets", "TestSupport", "Samplers"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "COCOMask", "Images"], exclude: ["Fixtures"]),
        .testTarget(name: "TrainCommandTests", dependencies: ["train"], exclude: ["Fixtures"]),
        // Fixtures/ holds the reference tokenizer's and sentence-transformers' outputs (made by the script beside them).
        .testTarget(name: "TextEncoderTests", dependencies: ["TextEncoder", "Autograd", "Core", "Datasets"], exclude: ["Fixtures"]),
        .testTarget(name: "HDF5Tests", dependencies: ["HDF5", "Autograd", "Core"], exclude: ["Fixtures"]),
        // Links and round-trips each image/compression C library the data pipeline will use.
        .testTarget(name: "CLibraryTests", dependencies: ["CZlib", "CPNG", "CTurboJPEG"]),
    ],
    swiftLanguageModes: [.v5],
    cxxLanguageStandard: .cxx17
)
