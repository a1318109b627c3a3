import Foundation

/// A data set as a folder of images: `train/<class>/*` and, optionally, `test/<class>/*`, each
/// image a PNG (grey, RGB; alpha dropped), JPEG (grey, RGB; when `RasterImage.readsJPEG`) or
/// Netpbm (PGM, PPM) file, told apart by content, not name. The classes are `train/`'s
/// subfolders in sorted order; every image has the size of the first, and if any is in colour,
/// grey ones are repeated into three channels.
public enum ImageFolder {
    /// Labels are bytes.
    public static let maxClasses = 256
    /// All images of a split together, as pixels: a bound on what a folder can make us allocate.
    public static let maxBytes = 1 << 30

    /// `directory/train`'s subfolders, sorted: the class names. Hidden entries are skipped.
    public static func classNames(directory: String) throws(DataError) -> [String] {
        let train = directory + "/train"
        let names = try subfolders(train)
        if names.isEmpty { throw .noImages(train) }
        if names.count > maxClasses { throw .tooManyClasses(train, count: names.count) }
        return names
    }

    /// Whether `directory/test` exists.
    public static func hasTest(directory: String) -> Bool { isDirectory(directory + "/test") }

    /// One split: every image of every class folder, class by class in sorted order, files in
    /// sorted order within a class. A class folder with no images is an error for `train/`;
    /// `test/` may leave classes out but not add any.
    public static func load(directory: String, split: MNIST.Split) throws(DataError) -> Dataset {
        let names = try classNames(directory: directory)
        let root = directory + "/" + split.rawValue
        if split == .test, !isDirectory(root) { throw .noTestSplit(directory) }
        let present = split == .train ? names : try subfolders(root)
        if let stray = present.first(where: { !names.contains($0) }) { throw .unknownClass(root, name: stray) }

        var images: [(label: UInt8, path: String, image: RasterImage)] = []
        var total = 0
        var first: (path: String, width: Int, height: Int)?
        for name in present {
            let folder = root + "/" + name
            let files = try entries(folder).filter { !isDirectory(folder + "/" + $0) }
            if files.isEmpty { throw .noImages(folder) }
            for file in files {
                let path = folder + "/" + file
                let image: RasterImage
                do { image = try RasterImage.read(path: path, maxPixels: Dataset.maxSide * Dataset.maxSide) } catch { throw .badImage(error) }
                if let first, image.width != first.width || image.height != first.height {
                    throw .mixedImageSizes(path, shape: image.shape, expected: [image.channels, first.height, first.width])
                }
                try Dataset.checkShape(channels: image.channels, rows: image.height, cols: image.width, file: path)
                if first == nil { first = (path, image.width, image.height) }
                total += 3 * image.width * image.height
                if total > maxBytes { throw .tooLarge(root, limit: maxBytes) }
                images.append((UInt8(names.firstIndex(of: name)!), path, image))
            }
        }
        guard let first else { throw .noImages(root) }
        let channels = images.contains { $0.image.channels == 3 } ? 3 : 1
        var pixels: [UInt8] = []
        pixels.reserveCapacity(images.count * channels * first.width * first.height)
        for entry in images { pixels += entry.image.converted(toChannels: channels).pixels }
        return Dataset(images: pixels, labels: images.map(\.label), channels: channels, rows: first.height, cols: first.width,
                       classes: DataClass.indexed(names.count, names: names))
    }

    static func isDirectory(_ path: String) -> Bool {
        var directory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &directory) && directory.boolValue
    }

    /// Non-hidden entries, sorted.
    private static func entries(_ path: String) throws(DataError) -> [String] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: path) } catch {
            throw isDirectory(path) ? .unreadable(path, reason: "cannot list the folder") : .missingFile(path)
        }
        return names.filter { !$0.hasPrefix(".") }.sorted()
    }

    private static func subfolders(_ path: String) throws(DataError) -> [String] {
        try entries(path).filter { isDirectory(path + "/" + $0) }
    }
}
