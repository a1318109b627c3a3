import ConvKit
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Images and their labels, pixels kept as the file's bytes (a quarter of the memory of floats;
/// batches are converted as they are used, see `fill`).
public struct Dataset: Sendable, Equatable {
    /// count × channels × rows × cols, channel-planar, 0 = dark (MNIST: background), 255 = bright.
    public var images: [UInt8]
    /// Each image's label, one of `classes`' labels.
    public var labels: [UInt8]
    public var count: Int
    public var channels: Int
    public var rows: Int
    public var cols: Int
    /// The classes, ordered by label: every label the data set may hold and its name.
    public var classes: [DataClass]

    /// Grey images; the classes are the distinct labels present, named by their numbers.
    public init(images: [UInt8], labels: [UInt8], rows: Int, cols: Int) {
        self.init(images: images, labels: labels, channels: 1, rows: rows, cols: cols, classes: DataClass.numbered(labels))
    }

    /// Images of `channels` planes; every label must be one of `classes`.
    public init(images: [UInt8], labels: [UInt8], channels: Int, rows: Int, cols: Int, classes: [DataClass]) {
        precondition(images.count == labels.count * channels * rows * cols,
                     "\(images.count) pixels for \(labels.count) images of \(channels)×\(rows)×\(cols)")
        self.images = images
        self.labels = labels
        self.count = labels.count
        self.channels = channels
        self.rows = rows
        self.cols = cols
        self.classes = classes
    }

    public var pixelsPerImage: Int { channels * rows * cols }

    /// The shape of one image, channels × rows × cols: the network's input shape.
    public var sampleShape: [Int] { [channels, rows, cols] }

    public func image(_ i: Int) -> ArraySlice<UInt8> {
        images[(i * pixelsPerImage)..<((i + 1) * pixelsPerImage)]
    }

    /// How many images of each label, 0–9 (further entries only if some label is above 9).
    public var labelCounts: [Int] {
        var counts = [Int](repeating: 0, count: max(10, Int(labels.max() ?? 0) + 1))
        for label in labels { counts[Int(label)] += 1 }
        return counts
    }

    /// The most channels, rows or columns, and values, one image may have: far above the data
    /// sets this library is for, low enough that a forged header cannot ask for gigabytes.
    public static let maxChannels = 16
    public static let maxSide = 1024
    public static let maxValuesPerImage = 1 << 22

    /// Throws `DataError.imageTooLarge` unless channels × rows × cols is within the limits above.
    public static func checkShape(channels: Int, rows: Int, cols: Int, file: String) throws(DataError) {
        guard (1...maxChannels).contains(channels), (1...maxSide).contains(rows), (1...maxSide).contains(cols),
              channels * rows * cols <= maxValuesPerImage else {
            throw .imageTooLarge(file, shape: [channels, rows, cols])
        }
    }
}

/// One class of a data set: the label its images carry and its name.
public struct DataClass: Sendable, Equatable {
    public var label: UInt8
    public var name: String

    public init(label: UInt8, name: String) {
        self.label = label
        self.name = name
    }

    /// The distinct labels in `labels`, sorted, each named by its number.
    public static func numbered(_ labels: [UInt8]) -> [DataClass] {
        var present = [Bool](repeating: false, count: 256)
        for label in labels { present[Int(label)] = true }
        return (0..<256).filter { present[$0] }.map { DataClass(label: UInt8($0), name: String($0)) }
    }

    /// `count` classes with labels 0..<count, named by `names` when it has exactly that many.
    static func indexed(_ count: Int, names: [String]?) -> [DataClass] {
        (0..<count).map { DataClass(label: UInt8($0), name: names?.count == count ? names![$0] : String($0)) }
    }
}

/// The MNIST files: where they are, and loading them with their checksums.
public enum MNIST {
    public enum Split: String, Sendable, CaseIterable {
        case train
        case test

        /// The file-name prefix LeCun's distribution uses ("t10k" for the test set).
        var prefix: String { self == .train ? "train" : "t10k" }
        public var imagesFile: String { "\(prefix)-images-idx3-ubyte" }
        public var labelsFile: String { "\(prefix)-labels-idx1-ubyte" }
    }

    /// SHA-256 of the decompressed files: they hold whatever gzip made the .gz (see Data/README.md).
    public static let checksums: [String: String] = [
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ]

    /// SHA-256 of the bundled `.gz` files byte for byte. Hashing these 11.5 MB costs a fraction
    /// of decompressing and hashing the 55 MB of content, and a file that matches is known whole,
    /// so only the images a run uses need be decompressed. A file that does not match (gzipped
    /// again, or plain) is still accepted if its content matches `checksums`.
    public static let storedChecksums: [String: String] = [
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        "train-images-idx3-ubyte.gz": "2be8c1eaa2afc259d8abd089406fc988ec94510ef77178350dc44aca12d23239",
        "train-labels-idx1-ubyte.gz": "995815fc4d146dcdafbc709058bd4e58882a95530509ab450cb2ce5687342473",
    ]

    /// Loads one split from `directory`, which holds the files plain or with `.gz`.
    /// `verifyChecksums` is for the bundled MNIST; other data in the same format (Fashion-MNIST,
    /// say) only has its format checked. With a `selection`, the data set may stop after the last
    /// image it takes (`Selection.imagesNeeded`): that much of a checksummed file is decompressed
    /// and the rest is not; unchecked files are always read to the end, as their format checks
    /// need.
    public static func load(directory: String, split: Split, verifyChecksums: Bool,
                            selection: Selection? = nil) throws(DataError) -> Dataset {
        let imagesPath = locate(split.imagesFile, in: directory)
        let labelsPath = locate(split.labelsFile, in: directory)
        let imageFile = try read(imagesPath, name: split.imagesFile, verify: verifyChecksums)
        let labels = try IDX.parseLabels(read(labelsPath, name: split.labelsFile, verify: verifyChecksums).content(), file: labelsPath)

        let images: IDX.Images, imageCount: Int
        switch imageFile {
        case .checked(let stored, _):
            let first = selection?.imagesNeeded(labels: labels) ?? labels.count
            (images, imageCount) = try IDX.leadingImages(of: stored, file: imagesPath, first: first)
        case let file:
            images = try IDX.parseImages(file.content(), file: imagesPath)
            imageCount = images.count
        }
        if imageCount != labels.count {
            throw .countMismatch(images: imagesPath, imageCount: imageCount, labels: labelsPath, labelCount: labels.count)
        }
        try Dataset.checkShape(channels: 1, rows: images.rows, cols: images.cols, file: imagesPath)
        // The classes from every label, including those past the images a selection stops at.
        var classes = DataClass.numbered(labels)
        if let names = try ClassNames.read(directory + "/classes.txt") {
            guard names.count == classes.count else { throw .classNamesMismatch(directory + "/classes.txt", names: names.count, classes: classes.count) }
            for k in classes.indices { classes[k].name = names[k] }
        }
        return Dataset(images: images.pixels, labels: Array(labels.prefix(images.count)), channels: 1, rows: images.rows,
                       cols: images.cols, classes: classes)
    }

    /// The bundled `Data/mnist`, found by walking up from the current directory and from the
    /// running executable (so `convkit` works from anywhere inside the checkout or its `.build`).
    public static func bundledDirectory() throws(DataError) -> String {
        var starts: [String] = []
        if let cwd = currentDirectory() { starts.append(cwd) }
        for exe in executableDirectories() where !starts.contains(exe) { starts.append(exe) }
        for start in starts {
            var dir = start
            while true {
                let candidate = dir == "/" ? "/Data/mnist" : dir + "/Data/mnist"
                if FileBytes.exists(candidate + "/train-images-idx3-ubyte.gz") { return candidate }
                guard dir != "/", let slash = dir.lastIndex(of: "/") else { break }
                dir = slash == dir.startIndex ? "/" : String(dir[..<slash])
            }
        }
        throw .bundledDataNotFound(searched: starts)
    }

    // The plain file if present, else the .gz; a missing file is then reported under the .gz name
    // since that is how MNIST is distributed.
    private static func locate(_ name: String, in directory: String) -> String {
        let plain = directory + "/" + name
        return FileBytes.exists(plain) ? plain : plain + ".gz"
    }

    /// A data file as `read` leaves it: stored bytes whose checksum matched, so any part of their
    /// content may be taken without further checks, or the whole content, already decompressed.
    private enum File {
        case checked(stored: [UInt8], path: String)
        case content([UInt8])

        func content() throws(DataError) -> [UInt8] {
            switch self {
            case .checked(let stored, let path): return try IDX.content(of: stored, file: path)
            case .content(let content): return content
            }
        }
    }

    private static func read(_ path: String, name: String, verify: Bool) throws(DataError) -> File {
        let (stored, identity) = try IDX.readIdentifiedFile(path: path)
        guard verify, let expected = checksums[name] else { return .content(try IDX.content(of: stored, file: path)) }
        // The bundled bytes: known from an earlier run's stamp, or hashed (and stamped) now.
        let bundled = storedChecksums[name + ".gz"] ?? expected
        let stamp = identity.flatMap { VerifiedStamp(identity: $0, name: name, digest: bundled) }
        if let stamp, stamp.isRecorded() { return .checked(stored: stored, path: path) }
        let digest = SHA256.hexDigest(stored)
        if digest == bundled { stamp?.record() }
        if digest == bundled || digest == expected { return .checked(stored: stored, path: path) }
        // Not the bundled bytes: decompress all of it (zlib refuses most corruption, and checks
        // the CRC at the end) and check the content's SHA-256.
        let content = try IDX.content(of: stored, file: path)
        let actual = SHA256.hexDigest(content)
        if actual != expected { throw .checksumMismatch(path, expected: expected, actual: actual) }
        return .content(content)
    }

    /// Where files that matched their checksum are remembered, so later runs need not hash them
    /// again: `$XDG_CACHE_HOME/convkit/verified`, else `~/.cache/convkit/verified`; nil (always
    /// hash) when neither is set.
    public static var verifiedStampDirectory: String? {
        if let cache = getenv("XDG_CACHE_HOME").map({ String(cString: $0) }), cache.hasPrefix("/") {
            return cache + "/convkit/verified"
        }
        if let home = getenv("HOME").map({ String(cString: $0) }), home.hasPrefix("/") {
            return home + "/.cache/convkit/verified"
        }
        return nil
    }

    /// One file found to match its checksum, named by device and inode and holding the file's
    /// size and times (`FileBytes.Identity`), its name and the digest it matched. A stamp that
    /// differs in anything, is missing or unreadable means hashing the file again; the stamp is
    /// only trusted for the exact version of the file it describes.
    private struct VerifiedStamp {
        var path: String
        var line: [UInt8]

        init?(identity: FileBytes.Identity, name: String, digest: String) {
            guard let directory = MNIST.verifiedStampDirectory else { return nil }
            path = directory + "/" + identity.key
            line = Array("convkit-verified-1 \(name) \(digest) \(identity.key) \(identity.version)\n".utf8)
        }

        func isRecorded() -> Bool {
            if case .bytes(let recorded) = FileBytes.load(path, limit: 4096) { return recorded == line }
            return false
        }

        /// Best effort: a cache that cannot be written only costs the next run a hash.
        func record() {
            _ = FileBytes.replace(path, with: line)
        }
    }

    private static func currentDirectory() -> String? {
        guard let p = getcwd(nil, 0) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    // The running executable's directory, from argv[0] resolved (symlinks too) and, on Linux,
    // from /proc/self/exe, which is exact even when argv[0] is a bare name found on PATH.
    private static func executableDirectories() -> [String] {
        var directories: [String] = []
        for path in [CommandLine.arguments.first ?? "", "/proc/self/exe"] where !path.isEmpty {
            guard let resolved = realpath(path, nil) else { continue }
            defer { free(resolved) }
            let full = String(cString: resolved)
            guard let slash = full.lastIndex(of: "/") else { continue }
            let directory = slash == full.startIndex ? "/" : String(full[..<slash])
            if !directories.contains(directory) { directories.append(directory) }
        }
        return directories
    }
}
