import Autograd

extension M2FModel {
    /// The reference optimiser groups (`m2f-tiny.md`, "Details that decide parity", 9): every
    /// `backbone.*` tensor at `backboneLRMultiplier` x the learning rate; weight decay 0 for
    /// GroupNorm/LayerNorm weights and biases and for the learnable tables (`query_feat`,
    /// `query_embed`, both `level_embed`s, `background_embed`, the `class_prompt`), `weightDecay` for the rest.
    public func referenceParameterGroups(weightDecay: Float = 0.05, backboneLRMultiplier: Float = 0.1) -> [ParameterGroup] {
        var groups: [String: ParameterGroup] = [:]
        var order: [String] = []
        for (name, tensor) in namedParameters() {
            let lr: Float = name.hasPrefix("backbone.") ? backboneLRMultiplier : 1
            let wd: Float = Self.isNoDecay(name) ? 0 : weightDecay
            let key = "\(lr)/\(wd)"
            if groups[key] == nil {
                groups[key] = ParameterGroup([], lrMultiplier: lr, weightDecay: wd)
                order.append(key)
            }
            groups[key]!.parameters.append(tensor)
        }
        return order.map { groups[$0]! }
    }

    static func isNoDecay(_ name: String) -> Bool {
        let parts = name.split(separator: ".")
        let tables: Set<Substring> = ["query_feat", "query_embed", "level_embed", "background_embed", "class_prompt"]
        if parts.contains(where: { tables.contains($0) }) { return true }
        // Norm layers are named norm, norm1..3 or decoder_norm.
        return parts.dropLast().last.map { $0.hasPrefix("norm") || $0 == "decoder_norm" } ?? false
    }
}
