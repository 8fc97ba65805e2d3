import Autograd
import COCOMask
import Datasets
import Evaluation
import Foundation
import Images
import Models
import Targets

/// The classes a prediction on new images answers in, and how the classifier scores them:
/// classifier rows (text embeddings `[R, D]`) and the class each row is reported as, several
/// rows summed into one class where they share a name.
public struct PredictionClasses {
    public var names: [String]
    public var isThing: [Bool]
    public var embeddings: Tensor
    public var reportedAs: [Int]

    /// Classes with their own embeddings (`--classes`, `--vocab`: Detic's vocabulary swap).
    public init(names: [String], isThing: [Bool], embeddings: [Float], dim: Int) {
        precondition(names.count == isThing.count && embeddings.count == names.count * dim, "PredictionClasses: sizes disagree")
        self.names = names
        self.isThing = isThing
        self.embeddings = Tensor(shape: [names.count, dim], data: embeddings)
        reportedAs = Array(names.indices)
    }

    /// A training dataset's classes, as `train evaluate` scores it (`--dataset`).
    public init(dataset d: Int, of space: UnifiedLabelSpace) {
        let part = space.datasets[d]
        names = part.classNames
        isThing = part.isThing
        embeddings = space.embeddings.indexSelect(axis: 0, part.columns)
        reportedAs = Array(part.classNames.indices)
    }

    /// Every training class at once, one class per name (`--label-space union`): in the merged
    /// form the classifier's columns themselves; in the concatenated form the columns of equal
    /// names summed into one.
    public init(unionOf space: UnifiedLabelSpace) {
        var index: [String: Int] = [:], names: [String] = [], isThing: [Bool] = [], reported: [Int] = []
        for (j, name) in space.names.enumerated() {
            let key = UnifiedLabelSpace.mergeKey(name)
            if index[key] == nil { index[key] = names.count; names.append(name); isThing.append(space.isThing[j]) }
            reported.append(index[key]!)
        }
        self.names = names
        self.isThing = isThing
        embeddings = space.embeddings
        reportedAs = reported
    }
}

/// `train predict`'s inference on images of any size: each resized to fit `size` x `size`
/// (aspect kept, padded black at the right and bottom, as evaluation crops), run in batches,
/// post-processed as Mask2Former's inference for `task` on the image's resized area, and the
/// results mapped back to the original size (nearest pixel; boxes scaled).
public struct ImagePredictor {
    public let model: M2FModel
    public let classes: PredictionClasses
    public let size: Int
    public let task: ShardTask
    public var options: InferenceOptions

    public init(model: M2FModel, classes: PredictionClasses, size: Int, task: ShardTask, options: InferenceOptions) {
        (self.model, self.classes, self.size, self.task, self.options) = (model, classes, size, task, options)
    }

    /// Predictions for `images` (RGB), in order, one forward pass for all of them.
    public func predict(_ images: [Image8]) -> [ImageAnnotations] {
        guard !images.isEmpty else { return [] }
        let (last, fitted) = forward(images)
        let local = Array(0..<classes.names.count), s = size, q = last.logits.shape[1]
        return (0..<images.count).map { i in
            let f = fitted[i]
            // Masks at the padded input size, cut to the image's area.
            let masks = withoutGrad {
                last.masks.slice(axis: 0, i..<(i + 1)).resizeBilinear(to: (s, s))
                    .slice(axis: 2, 0..<f.height).slice(axis: 3, 0..<f.width).reshape([q, f.height, f.width])
            }
            let small = postProcessed(logits: logits(last, image: i), masks: masks, task: task, columnIsThing: classes.isThing,
                                      reported: local, classIsThing: classes.isThing, options: options)
            return Self.resized(small, from: (f.height, f.width), to: (images[i].height, images[i].width))
        }
    }

    /// UniDetector's class priors from `images`: per class, its predicted probability summed
    /// over every query of every image, and the number of queries (`test.calibration`: the
    /// prior is their ratio).
    public func probabilitySums(_ images: [Image8]) -> (sums: [Double], queries: Int) {
        var sums = [Double](repeating: 0, count: classes.names.count)
        guard !images.isEmpty else { return (sums, 0) }
        let last = forward(images).last
        var queries = 0
        for i in 0..<images.count { queries += addClassProbabilities(logits(last, image: i), to: &sums) }
        return (sums, queries)
    }

    /// The model's final prediction set on `images` fitted into one padded batch.
    func forward(_ images: [Image8]) -> (last: TransformerDecoder.Prediction, fitted: [(pixels: [Float], height: Int, width: Int)]) {
        let s = size, n = images.count
        let fitted = images.map { fit($0) }
        var batch = [Float](repeating: 0, count: n * 3 * s * s)
        for (i, f) in fitted.enumerated() {
            for c in 0..<3 { for y in 0..<f.height { for x in 0..<f.width {
                batch[((i * 3 + c) * s + y) * s + x] = f.pixels[c * f.height * f.width + y * f.width + x]
            } } }
        }
        let told = [Int](repeating: SegmentationTask(task).rawValue, count: n)
        let last = withoutGrad { model.finalPrediction(Tensor(shape: [n, 3, s, s], data: batch), classEmbeddings: classes.embeddings, tasks: told) }
        return (last, fitted)
    }

    /// Image `i`'s class logits `[Q, K + 1]` in the prediction classes.
    func logits(_ last: TransformerDecoder.Prediction, image i: Int) -> Tensor {
        let q = last.logits.shape[1], rows = classes.embeddings.shape[0]
        return reportedLogits(last.logits.slice(axis: 0, i..<(i + 1)).reshape([q, rows + 1]), map: classes.reportedAs, classes: classes.names.count)
    }

    /// The image as planar float RGB resized (bilinear, aspect kept) to fit `size`.
    func fit(_ image: Image8) -> (pixels: [Float], height: Int, width: Int) {
        let (h, w) = (image.height, image.width)
        let factor = min(Double(size) / Double(h), Double(size) / Double(w))
        let (nh, nw) = (max(1, min(size, Int((Double(h) * factor).rounded()))), max(1, min(size, Int((Double(w) * factor).rounded()))))
        var planar = [Float](repeating: 0, count: 3 * h * w)
        planar.withUnsafeMutableBufferPointer { image.writePlanarRGB(into: $0.baseAddress!) }
        let resized = (nh, nw) == (h, w) ? planar
            : withoutGrad { Tensor(shape: [1, 3, h, w], data: planar).resizeBilinear(to: (nh, nw)) }.data
        return (resized, nh, nw)
    }

    /// Annotations made at `from` = (height, width) mapped to `to`: label maps by nearest
    /// pixel, instance masks likewise, boxes scaled.
    static func resized(_ a: ImageAnnotations, from: (Int, Int), to: (Int, Int)) -> ImageAnnotations {
        let (sh, sw) = from, (h, w) = to
        if (sh, sw) == (h, w) { return a }
        let rows = (0..<h).map { min(sh - 1, Int((Double($0) + 0.5) * Double(sh) / Double(h))) }
        let cols = (0..<w).map { min(sw - 1, Int((Double($0) + 0.5) * Double(sw) / Double(w))) }
        func nearest<T>(_ map: [T]) -> [T] {
            var out: [T] = []
            out.reserveCapacity(h * w)
            for y in 0..<h { let base = rows[y] * sw; for x in 0..<w { out.append(map[base + cols[x]]) } }
            return out
        }
        var out = ImageAnnotations()
        if let p = a.panoptic { out.panoptic = PanopticMap(width: w, height: h, ids: nearest(p.ids), segments: p.segments) }
        out.semantic = a.semantic.map(nearest)
        let (fx, fy) = (Double(w) / Double(sw), Double(h) / Double(sh))
        out.instances = a.instances?.map { object in
            var o = object
            o.box = [object.box[0] * fx, object.box[1] * fy, object.box[2] * fx, object.box[3] * fy]
            if let m = object.mask {
                let columnMajor = m.decodeColumnMajor()
                var rowMajor = [UInt8](repeating: 0, count: sh * sw)
                for x in 0..<sw { for y in 0..<sh { rowMajor[y * sw + x] = columnMajor[x * sh + y] } }
                o.mask = RLE(rowMajor: nearest(rowMajor), height: h, width: w)
            }
            return o
        }
        return out
    }
}
