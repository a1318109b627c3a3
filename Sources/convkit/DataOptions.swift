import Foundation
import ArgumentParser
import ConvKit
import ConvKitBenchmark
import ConvKitFiles
import ConvKitVisualization

/// Which MNIST-format directory to read, and which digits.
struct DataOptions: ParsableArguments {
    @Option(help: "IDX directory to read instead of the bundled MNIST (only its format is checked).")
    var data: String?

    @Option(help: "Digits to classify: 0,1 or 0-9 or all.")
    var digits: DigitList?

    /// With a `selection`, the bundled data may stop after the last image it takes.
    func load(_ split: MNIST.Split, for selection: Selection? = nil) throws -> Dataset {
        if let data { return try MNIST.load(directory: data, split: split, verifyChecksums: false, selection: selection) }
        return try MNIST.load(directory: try MNIST.bundledDirectory(), split: split, verifyChecksums: true, selection: selection)
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

func confusionTable(_ confusion: [[Int]], digits: [Int]) -> String {
    let width = max(4, String(confusion.joined().max() ?? 0).count + 1)
    func pad(_ s: String) -> String { String(repeating: " ", count: max(0, width - s.count)) + s }
    var lines = ["true \\ predicted"]
    lines.append("     " + digits.map { pad(String($0)) }.joined())
    for (row, digit) in zip(confusion, digits) {
        lines.append("  \(digit)  " + row.map { pad(String($0)) }.joined())
    }
    return lines.joined(separator: "\n")
}

func jsonString(_ object: Any) -> String {
    let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    return String(decoding: data, as: UTF8.self)
}

func writeStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    _ = write(2, &bytes, bytes.count)
}
