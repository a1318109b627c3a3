/// The binary versions of CIFAR-10 and CIFAR-100 (Krizhevsky, 2009): files of fixed-size records,
/// each a label byte (CIFAR-100: a coarse then a fine label byte) and a 32×32 colour image as
/// 1024 red, 1024 green, then 1024 blue bytes, rows top to bottom. That is already the
/// channel-planar layout a network takes, so records are copied as they are.
public enum CIFAR {
    public enum Kind: Sendable, Equatable {
        /// `data_batch_1.bin` … `data_batch_5.bin` and `test_batch.bin`; names in `batches.meta.txt`.
        case cifar10
        /// `train.bin` and `test.bin`, fine labels used; names in `fine_label_names.txt`.
        case cifar100

        /// Label bytes before each image.
        var labelBytes: Int { self == .cifar10 ? 1 : 2 }
        public var recordSize: Int { labelBytes + CIFAR.imageBytes }
        public var classCount: Int { self == .cifar10 ? 10 : 100 }

        public func files(_ split: MNIST.Split) -> [String] {
            switch (self, split) {
            case (.cifar10, .train): (1...5).map { "data_batch_\($0).bin" }
            case (.cifar10, .test): ["test_batch.bin"]
            case (.cifar100, .train): ["train.bin"]
            case (.cifar100, .test): ["test.bin"]
            }
        }

        public var namesFile: String { self == .cifar10 ? "batches.meta.txt" : "fine_label_names.txt" }
    }

    public static let imageBytes = 3 * 32 * 32

    /// A bound per file: the real ones are 30 MB (CIFAR-10 batches) and 150 MB (CIFAR-100 train).
    public static let maxBytes = 256 << 20

    /// The labels (fine, for CIFAR-100) and images of one file's records. Throws for an empty file,
    /// one that is not whole records, or a label past the classes.
    public static func parse(_ bytes: [UInt8], kind: Kind, file: String) throws(DataError) -> (labels: [UInt8], images: [UInt8]) {
        if bytes.isEmpty { throw .emptyFile(file) }
        let size = kind.recordSize
        guard bytes.count % size == 0 else { throw .partialRecord(file, recordSize: size, actual: bytes.count) }
        let n = bytes.count / size
        var labels = [UInt8](repeating: 0, count: n)
        var images = [UInt8](repeating: 0, count: n * imageBytes)
        try bytes.withUnsafeBufferPointer { (src) throws(DataError) in
            try images.withUnsafeMutableBufferPointer { (dst) throws(DataError) in
                for i in 0..<n {
                    let record = src.baseAddress! + i * size
                    if kind == .cifar100, record[0] >= 20 {
                        throw .labelBeyondClasses(file, index: i, value: record[0], classes: 20)
                    }
                    let label = record[kind.labelBytes - 1]
                    if Int(label) >= kind.classCount {
                        throw .labelBeyondClasses(file, index: i, value: label, classes: kind.classCount)
                    }
                    labels[i] = label
                    (dst.baseAddress! + i * imageBytes).update(from: record + kind.labelBytes, count: imageBytes)
                }
            }
        }
        return (labels, images)
    }

    /// One split from `directory`: every file of it, in order, as one data set of 3×32×32 images
    /// with all 10 or 100 classes, named from the names file when there is one.
    public static func load(directory: String, kind: Kind, split: MNIST.Split) throws(DataError) -> Dataset {
        var labels: [UInt8] = [], images: [UInt8] = []
        for name in kind.files(split) {
            let path = directory + "/" + name
            let bytes: [UInt8]
            switch FileBytes.load(path, limit: maxBytes) {
            case .bytes(let b): bytes = b
            case .missing: throw .missingFile(path)
            case .failed(let reason): throw .unreadable(path, reason: reason)
            }
            let part = try parse(bytes, kind: kind, file: path)
            labels += part.labels
            images += part.images
        }
        let namesPath = directory + "/" + kind.namesFile
        let names = try ClassNames.read(namesPath)
        if let names, names.count != kind.classCount {
            throw .classNamesMismatch(namesPath, names: names.count, classes: kind.classCount)
        }
        return Dataset(images: images, labels: labels, channels: 3, rows: 32, cols: 32,
                       classes: DataClass.indexed(kind.classCount, names: names))
    }
}

/// A text file of class names, one per line in class order; blank lines are ignored.
enum ClassNames {
    /// The names in `path`, or nil when there is no such file.
    static func read(_ path: String) throws(DataError) -> [String]? {
        switch FileBytes.load(path, limit: 1 << 20) {
        case .missing: return nil
        case .failed(let reason): throw .unreadable(path, reason: reason)
        case .bytes(let bytes):
            return String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline)
                .map { $0.trimmingCharacters() }.filter { !$0.isEmpty }
        }
    }
}
