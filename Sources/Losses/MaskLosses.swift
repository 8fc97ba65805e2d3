import Autograd

/// Losses between predicted mask logits and targets read at the same points: `logits` and
/// `targets` are `[M, P]` (M matched masks, P points). Each is summed over masks and divided by
/// `numMasks` (the number of target masks in the batch, at least 1), as Mask2Former does.
public enum MaskLosses {
    /// Sigmoid binary cross-entropy, mean over points.
    public static func sigmoidBCE(_ logits: Tensor, _ targets: Tensor, numMasks: Float) -> Tensor {
        // BCE-with-logits = softplus(x) − x·t, stable for any x.
        (logits.softplus() - logits * targets).mean(axis: 1).sum() / max(numMasks, 1)
    }

    /// Dice loss 1 − (2Σst + 1) / (Σs + Σt + 1), s = sigmoid(logit), per mask.
    public static func dice(_ logits: Tensor, _ targets: Tensor, numMasks: Float) -> Tensor {
        let s = logits.sigmoid()
        let numerator = (s * targets).sum(axis: 1) * 2 + 1
        let denominator = s.sum(axis: 1) + targets.sum(axis: 1) + 1
        return (1 - numerator / denominator).sum() / max(numMasks, 1)
    }

    /// Sigmoid focal loss (Lin et al.), mean over points: BCE · (1 − p_t)^γ · (α t + (1 − α)(1 − t)),
    /// p_t = s t + (1 − s)(1 − t).
    public static func sigmoidFocal(_ logits: Tensor, _ targets: Tensor, numMasks: Float,
                                    alpha: Float = 0.25, gamma: Float = 2) -> Tensor {
        let s = logits.sigmoid()
        let bce = logits.softplus() - logits * targets
        let pt = s * targets + (1 - s) * (1 - targets)
        var loss = bce * (1 - pt).pow(gamma)
        if alpha >= 0 { loss = loss * (targets * alpha + (1 - targets) * (1 - alpha)) }
        return loss.mean(axis: 1).sum() / max(numMasks, 1)
    }
}
