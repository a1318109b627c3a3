import ConvKit

extension KernelImage {
    /// Image samples (N, C, H, W) as they are and as `augmentation` changes them when they sit at
    /// positions 0..<N of epoch `epoch` with `seed`: two sections with a tile per sample (the
    /// first channel), up to 8 a row. Throws for samples that are not images.
    public static func augmented(_ samples: Tensor, by augmentation: Augmentation, seed: UInt64, epoch: Int,
                                 labels: Bool = true) throws(AugmentationError) -> Mosaic {
        let changed = try augmentation.applied(to: samples, seed: seed, epoch: epoch)
        let s = samples.shape, (n, plane) = (s[0], s[2] * s[3])
        func section(_ t: Tensor, _ label: String) -> Mosaic.Section {
            let tiles = (0..<n).map { i in
                let start = i * s[1] * plane
                return Mosaic.Tile(unchecked: Array(t.scalars[start..<(start + plane)]), s[2], s[3])
            }
            return Mosaic.Section(label: labels ? label : nil, tiles: tiles, columns: min(n, 8), scale: max(1, 84 / max(s[2], s[3])))
        }
        return Mosaic(sections: [
            section(samples, "as stored"),
            section(changed, "\(augmentation), epoch \(epoch), seed \(seed)"),
        ])
    }
}
