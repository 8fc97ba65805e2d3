import Autograd

/// OneFormer's three tasks, as a task-conditioned model is told which one it is doing (the raw
/// value is the row of the model's task embedding, `predictor.task_embed`).
public enum SegmentationTask: Int, CaseIterable, Codable, Sendable {
    case panoptic, semantic, instance
}

extension ImageTargets {
    /// Panoptic targets as OneFormer derives the other tasks' from them: `semantic`, one target
    /// per class present (its segments' masks united); `instance`, the thing segments alone;
    /// `panoptic`, as they are. `isThing` is the dataset's per class.
    public func derived(for task: SegmentationTask, isThing: [Bool]) -> ImageTargets {
        switch task {
        case .panoptic:
            return self
        case .instance:
            return selecting(classes.indices.filter { isThing[classes[$0]] })
        case .semantic:
            guard let masks, masks.rank == 3 else { return self }
            var order: [Int] = [], members: [Int: [Int]] = [:]
            for (t, c) in classes.enumerated() {
                if members[c] == nil { order.append(c) }
                members[c, default: []].append(t)
            }
            guard order.count < classes.count else { return self }
            let plane = masks.shape[1] * masks.shape[2], values = masks.data
            var united = [Float](repeating: 0, count: order.count * plane)
            for (j, c) in order.enumerated() {
                for t in members[c]! { for p in 0..<plane { united[j * plane + p] = max(united[j * plane + p], values[t * plane + p]) } }
            }
            return ImageTargets(classes: order, masks: Tensor(shape: [order.count, masks.shape[1], masks.shape[2]], data: united))
        }
    }
}
