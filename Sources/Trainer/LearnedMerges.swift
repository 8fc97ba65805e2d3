import Autograd
import Datasets
import Foundation
import Models
import Targets

/// UniDet's idea of a label space learned from the data, in its simplest form: classes of two
/// datasets merge when the model, answering in one dataset's vocabulary on the other's
/// labelled images, gives most of a class's pixels the other's class. For every dataset B with
/// pixel labels (panoptic, semantic) and every other dataset A, the first `images` training
/// images of B are segmented with A's classes (Mask2Former's semantic inference restricted to
/// A's columns); class b of B and class a of A merge when at least `threshold` of b's labelled
/// pixels went to a, b is the class of B (of its kind) with the largest share of pixels given a
/// (mutual: a vocabulary that lacks b's concept names its nearest class, which is no synonym),
/// and both are things or both stuff. Classes of the same name are one already (and take no
/// other partner). Union evaluation then reports a merged class as its partner
/// (`InferenceOptions.unionMerges`), beside the same-name and text-similarity rules.
public enum LearnedMerges {
    /// A merged pair: unified columns, names and how much of B's class went to A's.
    public struct Pair: Codable, Equatable, Sendable {
        public var columnA: Int, columnB: Int
        public var datasetA: String, classA: String
        public var datasetB: String, classB: String
        /// The share of class B's labelled pixels given class A.
        public var confusion: Double
    }

    public static func learn(model: M2FModel, data: TrainingData, images: Int, threshold: Double,
                             log: (String) -> Void = { print($0) }) throws -> [Pair] {
        let space = data.labelSpace
        var pairs: [Pair] = []
        for (b, source) in data.sources.enumerated() where source.task == .panoptic || source.task == .semantic {
            let partB = space.datasets[b]
            // counts[A][class b][class a]
            var counts = space.datasets.map { a in [[Double]](repeating: [Double](repeating: 0, count: a.classNames.count), count: partB.classNames.count) }
            for i in 0..<min(images, source.count) {
                let sample = try source.decoded(i)
                guard let truth = annotations(of: sample, task: source.task, isThing: source.classes.isThing).semantic else { continue }
                let (h, w) = (sample.image.height, sample.image.width)
                var pixels = [Float](repeating: 0, count: 3 * h * w)
                pixels.withUnsafeMutableBufferPointer { sample.image.writePlanarRGB(into: $0.baseAddress!) }
                let last = withoutGrad { model.finalPrediction(Tensor(shape: [1, 3, h, w], data: pixels), classEmbeddings: space.embeddings) }
                let masks = withoutGrad { last.masks.resizeBilinear(to: (h, w)).reshape([-1, h, w]) }
                for a in space.datasets.indices where a != b {
                    let k = space.datasets[a].classNames.count
                    let logits = withoutGrad { space.restrict(last.logits, to: a).reshape([-1, k + 1]) }
                    let predicted = PostProcessing.semantic(logits: logits, masks: masks)
                    for (p, t) in truth.enumerated() where t >= 0 && t != 255 { counts[a][Int(t)][Int(predicted[p])] += 1 }
                }
            }
            for (a, partA) in space.datasets.enumerated() where a != b {
                // Classes of the same name are one already, and spoken for.
                let keysA = partA.classNames.map(UnifiedLabelSpace.mergeKey), keysB = Set(partB.classNames.map(UnifiedLabelSpace.mergeKey))
                for cb in partB.classNames.indices where !keysA.contains(UnifiedLabelSpace.mergeKey(partB.classNames[cb])) {
                    let total = counts[a][cb].reduce(0, +)
                    guard total > 0, let (ca, n) = counts[a][cb].enumerated().max(by: { $0.element < $1.element }).map({ ($0.offset, $0.element) }) else { continue }
                    let share = n / total
                    // Mutual: of B's classes of b's kind, b is also the one with the largest share
                    // of its pixels given a (A may lack b's concept, and then names whatever is
                    // nearest: not a synonym).
                    func shareOf(_ c: Int) -> Double { counts[a][c][ca] / max(1, counts[a][c].reduce(0, +)) }
                    let source = partB.classNames.indices.filter { partB.isThing[$0] == partB.isThing[cb] }.max { shareOf($0) < shareOf($1) }!
                    guard share >= threshold, source == cb, !keysB.contains(keysA[ca]), partA.isThing[ca] == partB.isThing[cb], partA.columns[ca] != partB.columns[cb] else { continue }
                    pairs.append(Pair(columnA: partA.columns[ca], columnB: partB.columns[cb], datasetA: partA.name, classA: partA.classNames[ca],
                                      datasetB: partB.name, classB: partB.classNames[cb], confusion: share))
                }
            }
        }
        for p in pairs {
            log(String(format: "merge: %@ %@ = %@ %@ (%.0f %% of its pixels)", p.datasetB, p.classB, p.datasetA, p.classA, 100 * p.confusion))
        }
        return pairs
    }
}
