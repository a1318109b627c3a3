
/// Where a data set is and in which format, found by looking at what a directory holds.
public struct DataSource: Sendable, Equatable, CustomStringConvertible {
    public enum Format: String, Sendable, Equatable {
        case idx = "IDX"
        case cifar10 = "CIFAR-10 binary"
        case cifar100 = "CIFAR-100 binary"
        case imageFolder = "image folder"
    }

    public var format: Format
    public var directory: String
    /// Only for the bundled MNIST, whose checksums are known.
    public var verifyChecksums: Bool

    public init(format: Format, directory: String, verifyChecksums: Bool = false) {
        self.format = format
        self.directory = directory
        self.verifyChecksums = verifyChecksums
    }

    /// The bundled MNIST (`MNIST.bundledDirectory()`), checksums checked.
    public static func bundledMNIST() throws(DataError) -> DataSource {
        DataSource(format: .idx, directory: try MNIST.bundledDirectory(), verifyChecksums: true)
    }

    /// What `path` holds: MNIST-named IDX files, CIFAR-10 or CIFAR-100 binary files (also in the
    /// `cifar-10-batches-bin` or `cifar-100-binary` folder the archives unpack to), or a `train/`
    /// folder of class folders.
    public static func detect(_ path: String) throws(DataError) -> DataSource {
        guard ImageFolder.isDirectory(path) else {
            throw FileBytes.exists(path) ? .unknownLayout(path) : .missingFile(path)
        }
        let idx = MNIST.Split.train.imagesFile
        if FileBytes.exists(path + "/" + idx) || FileBytes.exists(path + "/" + idx + ".gz") {
            return DataSource(format: .idx, directory: path)
        }
        for (format, folder, marker) in [(Format.cifar10, "cifar-10-batches-bin", "data_batch_1.bin"),
                                         (.cifar100, "cifar-100-binary", "train.bin")] {
            if FileBytes.exists(path + "/" + marker) { return DataSource(format: format, directory: path) }
            if FileBytes.exists(path + "/" + folder + "/" + marker) { return DataSource(format: format, directory: path + "/" + folder) }
        }
        if ImageFolder.isDirectory(path + "/train") { return DataSource(format: .imageFolder, directory: path) }
        throw .unknownLayout(path)
    }

    /// Whether the data set has a test split of its own (an image folder may not).
    public var hasTestSplit: Bool { format != .imageFolder || ImageFolder.hasTest(directory: directory) }

    /// One split. With a `selection`, bundled MNIST may stop after the last image it takes
    /// (see `MNIST.load`); other formats read everything.
    public func load(_ split: MNIST.Split, selection: Selection? = nil) throws(DataError) -> Dataset {
        switch format {
        case .idx: try MNIST.load(directory: directory, split: split, verifyChecksums: verifyChecksums, selection: selection)
        case .cifar10: try CIFAR.load(directory: directory, kind: .cifar10, split: split)
        case .cifar100: try CIFAR.load(directory: directory, kind: .cifar100, split: split)
        case .imageFolder: try ImageFolder.load(directory: directory, split: split)
        }
    }

    /// "CIFAR-10 binary at PATH", "IDX at PATH (bundled MNIST)".
    public var description: String { "\(format.rawValue) at \(directory)" + (verifyChecksums ? " (bundled MNIST)" : "") }
}
