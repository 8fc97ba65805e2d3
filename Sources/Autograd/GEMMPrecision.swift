import CGEMM

/// The number format of the GEMMs an op records: float32, or mixed precision — operands rounded
/// to bfloat16 (nearest even), products summed in float32 — which runs the AVX-512 kernel at
/// twice the multiply rate on CPUs with AVX512-BF16 (`uniseg_gemm_bf16_available`). Weights,
/// activations, gradients and the optimizer stay float32; only the GEMMs' inputs are rounded, as
/// PyTorch's bfloat16 autocast does for matmuls and convolutions.
///
/// Scoped, not global: `M2FModel` runs its forward pass under `withValue(config.precision)`
/// and its prediction heads (class and mask logits) under `.float32`; convolutions and matrix
/// products read `current` when they run and keep it for their backward pass, so the gradient
/// GEMMs of a bfloat16 op are bfloat16 too, while the heads, the matcher, the losses and
/// post-processing stay float32.
public enum GEMMPrecision: String, Codable, CaseIterable, Sendable {
    case float32, bfloat16

    /// The precision of GEMMs recorded now.
    @TaskLocal public static var current: GEMMPrecision = .float32

    /// Whether this CPU runs bfloat16 GEMMs; elsewhere a bfloat16 request runs in float32
    /// (`ConfigLoader` warns when a config asks for it).
    public static let bfloat16Available: Bool = GEMMBackend.preferred == .avx512 && uniseg_gemm_bf16_available()

    /// Whether a GEMM asked to run in this precision takes the bfloat16 kernel.
    @inline(__always)
    var usesBFloat16: Bool { self == .bfloat16 && GEMMBackend.current == .avx512 && Self.bfloat16Available }

    /// Runs `body` with GEMMs recorded in `precision`.
    public static func withValue<T>(_ precision: GEMMPrecision, _ body: () throws -> T) rethrows -> T {
        try $current.withValue(precision, operation: body)
    }
}
