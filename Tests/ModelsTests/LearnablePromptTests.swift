import Autograd
import Core
import Models
import TestSupport
import XCTest

/// LMSeg's learnable prompt: zero at the start (the model is the prompt-less one), trained like
/// any parameter, and part of the classifier for every dataset.
final class LearnablePromptTests: XCTestCase {
    func model(prompt: Bool) -> M2FModel {
        var c = M2FConfig()
        c.stemChannels = [8, 16]
        c.stageChannels = [16, 16, 32, 32]
        (c.convDim, c.hidden, c.maskDim, c.encoderFFN, c.ffn) = (32, 32, 32, 32, 32)
        (c.queries, c.decoderLayers, c.decoderGroups, c.embeddingDim) = (4, 2, 8, 16)
        c.learnablePrompt = prompt
        var rng = SeededRNG(seed: 4)
        return M2FModel(c, rng: &rng)
    }

    func testStartsAsThePromptlessModelAndLearns() {
        var rng = SeededRNG(seed: 8)
        let images = Tensor(shape: [1, 3, 32, 32], data: (0..<(3 * 32 * 32)).map { _ in 255 * rng.nextUniform() })
        let classes = Tensor(shape: [3, 16], data: (0..<48).map { _ in rng.nextNormal() })
        let (plain, prompted) = (model(prompt: false), model(prompt: true))
        XCTAssertEqual(prompted.parameterCount, plain.parameterCount + 16)
        let prompt = prompted.namedParameters().first { $0.name == "predictor.class_prompt" }!.tensor
        XCTAssertEqual(prompt.data, [Float](repeating: 0, count: 16))
        let a = withoutGrad { plain(images, classEmbeddings: classes) }.last!.logits.data
        let out = prompted(images, classEmbeddings: classes).last!
        XCTAssertEqual(out.logits.data, a)
        out.logits.slice(axis: 2, 0..<1).sum().backward()
        XCTAssertGreaterThan(prompt.grad?.map(abs).max() ?? 0, 0)
        // Its gradient through the classifier's normalisation, checked by finite differences.
        prompt.data = (0..<16).map { _ in 0.3 * rng.nextNormal() }
        checkGradients([prompt], atol: 5e-3) { _ in
            prompted(images, classEmbeddings: classes).last!.logits.slice(axis: 2, 0..<1).sum()
        }
    }
}
