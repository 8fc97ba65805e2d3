/// mIoU as mmsegmentation's `IoUMetric` computes it (the default), or as Detectron2's
/// `SemSegEvaluator` does: intersection, union, prediction and label areas summed over the
/// whole set.

public struct SemanticMetrics: Equatable, Sendable {
    public var aAcc: Double
    public var mIoU: Double
    public var mAcc: Double
    /// Per class; nil where the class is left out (NaN in mmsegmentation).
    public var iou: [Double?]
    public var acc: [Double?]
}

public struct SemanticEvaluator {
    public enum Style: String, Sendable, CaseIterable {
        /// mmsegmentation: classes with zero union are left out; a class predicted but absent
        /// from the ground truth scores IoU 0 and counts.
        case mmseg
        /// Detectron2: only classes present in the ground truth count.
        case detectron2
    }

    public let numClasses: Int
    public let ignoreIndex: Int
    public let style: Style
    private var intersect: [Int], predArea: [Int], labelArea: [Int]

    public init(numClasses: Int, ignoreIndex: Int = 255, style: Style = .mmseg) {
        precondition(numClasses > 0, "SemanticEvaluator: numClasses must be positive")
        self.numClasses = numClasses
        self.ignoreIndex = ignoreIndex
        self.style = style
        intersect = [Int](repeating: 0, count: numClasses)
        predArea = intersect
        labelArea = intersect
    }

    public mutating func reset() {
        intersect = [Int](repeating: 0, count: numClasses)
        predArea = intersect
        labelArea = intersect
    }

    public struct Sample {
        public var prediction: [Int32]
        public var label: [Int32]
        public init(prediction: [Int32], label: [Int32]) {
            self.prediction = prediction
            self.label = label
        }
    }

    public mutating func add(_ sample: Sample) throws {
        guard sample.prediction.count == sample.label.count else {
            throw PanopticError(message: "prediction has \(sample.prediction.count) pixels, label \(sample.label.count)")
        }
        let n = Int32(numClasses), ignore = Int32(ignoreIndex)
        for k in sample.label.indices {
            let l = sample.label[k]
            if l == ignore { continue }
            let p = sample.prediction[k]
            // Values outside 0..<numClasses fall outside torch.histc's range and are not counted.
            if p >= 0 && p < n { predArea[Int(p)] += 1 }
            if l >= 0 && l < n {
                labelArea[Int(l)] += 1
                if p == l { intersect[Int(l)] += 1 }
            }
        }
    }

    public func summarize() -> SemanticMetrics {
        var iou = [Double?](repeating: nil, count: numClasses), acc = iou
        for c in 0..<numClasses {
            let union = predArea[c] + labelArea[c] - intersect[c]
            switch style {
            case .mmseg:
                if union > 0 { iou[c] = Double(intersect[c]) / Double(union) }
                if labelArea[c] > 0 { acc[c] = Double(intersect[c]) / Double(labelArea[c]) }
            case .detectron2:
                if labelArea[c] > 0 {
                    iou[c] = Double(intersect[c]) / Double(union)
                    acc[c] = Double(intersect[c]) / Double(labelArea[c])
                }
            }
        }
        func mean(_ xs: [Double?]) -> Double {
            let v = xs.compactMap { $0 }
            return v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count)
        }
        let totalLabel = labelArea.reduce(0, +)
        return SemanticMetrics(aAcc: totalLabel == 0 ? .nan : Double(intersect.reduce(0, +)) / Double(totalLabel),
                               mIoU: mean(iou), mAcc: mean(acc), iou: iou, acc: acc)
    }
}
