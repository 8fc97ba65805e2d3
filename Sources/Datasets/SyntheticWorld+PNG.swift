import Images

extension SyntheticWorld {
    static func pngBytes(_ scene: Scene) throws -> [UInt8] {
        try PNG.encode(Image8(width: scene.size, height: scene.size, channels: 3, pixels: scene.rgb))
    }
}
