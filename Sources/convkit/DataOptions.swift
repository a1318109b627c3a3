import Foundation
import ArgumentParser
import ConvKitFiles

/// Which data set to read, which of its classes, and where the test images come from.
struct DataOptions: ParsableArguments {
    @Option(help: "Data to read instead of the bundled MNIST: a directory of MNIST-named IDX files, CIFAR-10 or CIFAR-100 binary files, or an image folder (train/<class>/*.png and optionally test/<class>/*.png; PNG, JPEG, PGM or PPM).")
    var data: String?

    @Option(help: "Digits to classify: 0,1 or 0-9 or all.")
    var digits: DigitList?

    @Option(help: "Classes to classify, by name or index: all, 3,5,7 or cat,dog (default: the recipe's digits for IDX data, else all).")
    var classes: ClassList?

    @Option(help: "Hold out this fraction of each training class (chosen by --seed) and test on it instead of a test split.")
    var valSplit: Double?

    func validate() throws {
        if digits != nil, classes != nil { throw ValidationError("give at most one of --digits and --classes") }
        if let valSplit, !(valSplit > 0 && valSplit < 1) { throw ValidationError("--val-split must be between 0 and 1, got \(valSplit)") }
    }

    /// The data set `--data` names, or the bundled MNIST.
    func source() throws -> DataSource {
        if let data { return try DataSource.detect(data) }
        return try DataSource.bundledMNIST()
    }

    /// The training images and the images to test on: the test split, or with --val-split the
    /// images held out of the training split by `seed`. Selections only help the bundled MNIST.
    func splits(_ source: DataSource, seed: UInt64, train: Selection?, test: Selection?) throws -> (train: Dataset, test: Dataset) {
        if let valSplit {
            let parts = try source.load(.train).holdOut(valSplit, seed: seed)
            return (parts.train, parts.held)
        }
        return (try source.load(.train, selection: train), try source.load(.test, selection: test))
    }

    /// The test images alone (evaluate, predict, show): the test split or the held-out ones.
    func testSet(_ source: DataSource, seed: UInt64 = 0) throws -> Dataset {
        if let valSplit { return try source.load(.train).holdOut(valSplit, seed: seed).held }
        return try source.load(.test)
    }

    /// The classes --digits or --classes pick from `available`, in the order given; nil if neither was given.
    func chosenClasses(in available: [DataClass]) throws -> [DataClass]? {
        if let digits { return try pick(digits.digits.map(String.init), in: available, flag: "--digits", byIndex: false) }
        guard let classes else { return nil }
        guard let items = classes.items else { return available }
        return try pick(items, in: available, flag: "--classes", byIndex: true)
    }

    /// Each item as a class name, else (when `byIndex`) a position in `available`.
    func pick(_ items: [String], in available: [DataClass], flag: String, byIndex: Bool) throws -> [DataClass] {
        var picked: [DataClass] = []
        for item in items {
            if let named = available.first(where: { $0.name == item }) {
                picked.append(named)
            } else if byIndex, let k = Int(item), available.indices.contains(k) {
                picked.append(available[k])
            } else {
                let names = available.map(\.name).joined(separator: ",")
                throw ValidationError("\(flag): the data has no class '\(item)' (classes: \(names.count > 200 ? names.prefix(200) + "…" : names))")
            }
        }
        if Set(picked.map(\.label)).count != picked.count { throw ValidationError("\(flag) names a class twice") }
        return picked
    }
}

/// `all`, or class names and indices separated by commas.
struct ClassList: ExpressibleByArgument {
    /// nil: all.
    var items: [String]?

    init?(argument: String) {
        if argument == "all" { items = nil; return }
        let parts = argument.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard !parts.isEmpty, !parts.contains(where: \.isEmpty), Set(parts).count == parts.count else { return nil }
        items = parts
    }
}

struct DigitList: ExpressibleByArgument {
    var digits: [Int]

    init?(argument: String) {
        if argument == "all" { digits = Array(0...9); return }
        var result: [Int] = []
        for part in argument.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
            guard bounds.allSatisfy({ $0 != nil && (0...9).contains($0!) }) else { return nil }
            switch bounds.count {
            case 1: result.append(bounds[0]!)
            case 2 where bounds[0]! <= bounds[1]!: result += Array(bounds[0]!...bounds[1]!)
            default: return nil
            }
        }
        guard !result.isEmpty, Set(result).count == result.count else { return nil }
        digits = result
    }

    static var defaultValueDescription: String { "0,1" }
}

/// A count per class, or `all`.
struct Count: ExpressibleByArgument {
    var value: Int?

    init?(argument: String) {
        if argument == "all" { value = nil; return }
        guard let n = Int(argument), n > 0 else { return nil }
        value = n
    }
}

/// Where the human-readable lines go: stdout normally, stderr when stdout carries JSON.
struct Console {
    var quiet: Bool

    func line(_ text: String = "") {
        if quiet { return }
        print(text)
    }

    /// An in-place progress line, only when stderr is a terminal.
    static let interactive = isatty(2) != 0
    static let stdoutIsTerminal = isatty(1) != 0

    static func progress(_ text: String) {
        guard interactive else { return }
        writeStandardError("\r\(text)\u{1B}[K")
    }

    static func clearProgress() {
        guard interactive else { return }
        writeStandardError("\r\u{1B}[K")
    }
}

func percent(_ x: Double) -> String { String(format: "%.2f%%", 100 * x) }

func confusionTable(_ confusion: [[Int]], classes: [String]) -> String {
    let nameWidth = max(1, classes.map(\.count).max() ?? 0)
    let width = max(4, String(confusion.joined().max() ?? 0).count + 1, nameWidth + 1)
    func pad(_ s: String, _ w: Int) -> String { String(repeating: " ", count: max(0, w - s.count)) + s }
    var lines = ["true \\ predicted"]
    lines.append(String(repeating: " ", count: nameWidth + 4) + classes.map { pad($0, width) }.joined())
    for (row, name) in zip(confusion, classes) {
        lines.append("  " + pad(name, nameWidth) + "  " + row.map { pad(String($0), width) }.joined())
    }
    return lines.joined(separator: "\n")
}

/// A class name in JSON: the number for digit classes (as before names), else the string.
func jsonClass(_ name: String) -> Any { Int(name).map { $0 as Any } ?? name }

func jsonString(_ object: Any) -> String {
    let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    return String(decoding: data, as: UTF8.self)
}

func writeStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    _ = write(2, &bytes, bytes.count)
}
