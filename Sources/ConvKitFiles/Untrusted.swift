import ConvKit
/// Every reader of untrusted bytes, behind one call, for the fuzz target (Tests/Fuzz) and the
/// seeded mutation test that replays its corpus: each must return or throw its typed error.
public let fuzzTargets = ["idx", "safetensors", "image", "layers", "cifar", "raster", "jpeg"]

/// Runs the reader `target` names over `bytes`; returns whether they were accepted.
@discardableResult
public func readUntrusted(_ bytes: [UInt8], as target: String) -> Bool {
    untrustedReadError(bytes, as: target) == nil
}

/// Runs the reader `target` names over `bytes`; returns the error it refused them with, nil when
/// it accepted them.
public func untrustedReadError(_ bytes: [UInt8], as target: String) -> (any Error)? {
    do {
        switch target {
        case "idx":
            // As IDX.readContent: gzip when it looks like gzip, then either IDX kind.
            let content = Gzip.isGzip(bytes) ? try Gzip.decompress(bytes, limit: 1 << 24) : bytes
            if (try? IDX.parseImages(content, file: "fuzz")) != nil { return nil }
            _ = try IDX.parseLabels(content, file: "fuzz")
        case "safetensors":
            let file = try SafeTensorsFile.decode(bytes: bytes, file: "fuzz")
            let model = try Model(file: file, path: "fuzz")
            // A model that loads must also run.
            let n = model.network.inputShape.reduce(1, *)
            if n <= 1 << 16 { _ = try model.network.forward(Tensor(zeros: [1] + model.network.inputShape)) }
        case "image":
            _ = try GreyImage.decode(bytes, file: "fuzz")
        case "cifar":
            // The first byte picks CIFAR-10 or CIFAR-100, as the fuzzer may explore both.
            guard let kind = bytes.first else { return DataError.emptyFile("fuzz") }
            _ = try CIFAR.parse(Array(bytes.dropFirst()), kind: kind & 1 == 0 ? .cifar10 : .cifar100, file: "fuzz")
        case "raster":
            // As an image folder reads each file: bounded by the largest image a data set may hold.
            let image = try RasterImage.decode(bytes, file: "fuzz", maxPixels: Dataset.maxSide * Dataset.maxSide)
            _ = image.converted(toChannels: image.channels == 1 ? 3 : 1)
        case "jpeg":
            // libjpeg-turbo straight, without the first-bytes dispatch, at an image folder's bound.
            // Always false in a build without it (RasterImage.readsJPEG).
            _ = try JPEG.decodeSamples(bytes, file: "fuzz", maxPixels: Dataset.maxSide * Dataset.maxSide)
        case "layers":
            let text = String(decoding: bytes, as: UTF8.self)
            let parts = text.split(separator: "|", maxSplits: 1)
            let input = parts.count == 2 ? parts[0].split(separator: "x").compactMap { Int($0) } : [1, 28, 28]
            _ = try Architecture(input: input, spec: String(parts.last ?? "")).build()
        default:
            preconditionFailure("unknown fuzz target '\(target)'")
        }
        return nil
    } catch {
        return error
    }
}
