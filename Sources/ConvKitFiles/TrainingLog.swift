import ConvKit
import Foundation

/// The per-epoch record of a training run, one line per epoch, in either of two formats chosen
/// by the file name: `.csv` (a header line, then values) or anything else JSON Lines, one object
/// per line. Both use the keys of `convkit train --json`:
///
///     {"epoch":1,"loss":0.0521,"accuracy":0.985,"test_accuracy":0.995,"seconds":0.41,"learning_rate":0.1}
///
/// `test_accuracy` is null (JSON) or empty (CSV) when there was no test set.
public struct TrainingLog: Equatable, Sendable {
    public enum Format: String, Sendable {
        case jsonLines = "jsonl"
        case csv

        public init(path: String) {
            self = path.lowercased().hasSuffix(".csv") ? .csv : .jsonLines
        }
    }

    public var epochs: [EpochReport]

    public init(epochs: [EpochReport] = []) { self.epochs = epochs }

    static let columns = ["epoch", "loss", "accuracy", "test_accuracy", "seconds", "learning_rate"]

    public static func csvHeader() -> String { columns.joined(separator: ",") }

    /// One line, without the newline.
    public static func line(_ r: EpochReport, format: Format) -> String {
        switch format {
        case .csv:
            return ["\(r.epoch)", "\(r.loss)", "\(r.accuracy)", r.testAccuracy.map { "\($0)" } ?? "", "\(r.seconds)", "\(r.learningRate)"]
                .joined(separator: ",")
        case .jsonLines:
            // Written by hand rather than by JSONSerialization so the keys keep the table's order.
            let test = r.testAccuracy.map { "\($0)" } ?? "null"
            return "{\"epoch\":\(r.epoch),\"loss\":\(r.loss),\"accuracy\":\(r.accuracy),\"test_accuracy\":\(test),"
                + "\"seconds\":\(r.seconds),\"learning_rate\":\(r.learningRate)}"
        }
    }

    public static func read(path: String) throws(TrainingLogError) -> TrainingLog {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw .unreadable(path, reason: FileManager.default.fileExists(atPath: path) ? "\(error.localizedDescription)" : "no such file")
        }
        return try parse(text, format: Format(path: path), file: path)
    }

    public static func parse(_ text: String, format: Format, file: String = "<log>") throws(TrainingLogError) -> TrainingLog {
        let lines = text.split(whereSeparator: \.isNewline).map(String.init).enumerated()
            .filter { !$0.element.allSatisfy(\.isWhitespace) }
        var epochs: [EpochReport] = []
        switch format {
        case .jsonLines:
            for (n, line) in lines {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                    throw .badLine(file, line: n + 1, reason: "not a JSON object")
                }
                epochs.append(try report(line: n + 1, file: file) { object[$0].flatMap(number) })
            }
        case .csv:
            guard let (_, headerLine) = lines.first else { throw .badLine(file, line: 1, reason: "no CSV header") }
            let header = headerLine.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters() }
            for (n, line) in lines.dropFirst() {
                let cells = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters() }
                guard cells.count == header.count else {
                    throw .badLine(file, line: n + 1, reason: "\(cells.count) cells for \(header.count) columns")
                }
                let row = Dictionary(zip(header, cells), uniquingKeysWith: { a, _ in a })
                epochs.append(try report(line: n + 1, file: file) { row[$0].flatMap { Double($0) } })
            }
        }
        return TrainingLog(epochs: epochs)
    }

    private static func report(line: Int, file: String, _ value: (String) -> Double?) throws(TrainingLogError) -> EpochReport {
        func required(_ key: String) throws(TrainingLogError) -> Double {
            guard let v = value(key), v.isFinite else { throw .badLine(file, line: line, reason: "no number for \"\(key)\"") }
            return v
        }
        let epoch = try required("epoch")
        guard epoch >= 0, epoch.rounded() == epoch, epoch < 1e9 else {
            throw .badLine(file, line: line, reason: "epoch \(epoch) is not a whole number")
        }
        return EpochReport(epoch: Int(epoch), loss: try required("loss"), accuracy: try required("accuracy"),
                           testAccuracy: value("test_accuracy"), seconds: value("seconds") ?? 0,
                           learningRate: Float(value("learning_rate") ?? 0))
    }

    private static func number(_ any: Any) -> Double? {
        (any as? NSNumber)?.doubleValue
    }
}

extension EpochReport: Equatable {
    public static func == (a: EpochReport, b: EpochReport) -> Bool {
        (a.epoch, a.loss, a.accuracy, a.testAccuracy, a.seconds, a.learningRate)
            == (b.epoch, b.loss, b.accuracy, b.testAccuracy, b.seconds, b.learningRate)
    }
}

/// Appends epochs to a log file as training goes, each line written straight to the file
/// (no buffering in this process), so a run that is killed keeps every epoch it finished.
public final class TrainingLogWriter {
    public let path: String
    public let format: TrainingLog.Format
    private let handle: FileHandle

    /// Creates or empties `path`; a CSV log starts with its header.
    public init(path: String) throws(TrainingLogError) {
        self.path = path
        format = TrainingLog.Format(path: path)
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw .unwritable(path, reason: String(cString: strerror(errno)))
        }
        self.handle = handle
        if format == .csv { try write(TrainingLog.csvHeader()) }
    }

    deinit { try? handle.close() }

    public func append(_ report: EpochReport) throws(TrainingLogError) {
        try write(TrainingLog.line(report, format: format))
    }

    private func write(_ line: String) throws(TrainingLogError) {
        do { try handle.write(contentsOf: Data((line + "\n").utf8)) } catch {
            throw .unwritable(path, reason: error.localizedDescription)
        }
    }
}

public enum TrainingLogError: Error, CustomStringConvertible, Equatable {
    case unreadable(String, reason: String)
    case unwritable(String, reason: String)
    case badLine(String, line: Int, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let f, let reason): "\(f): cannot read (\(reason))"
        case .unwritable(let f, let reason): "\(f): cannot write (\(reason))"
        case .badLine(let f, let line, let reason): "\(f):\(line): \(reason)"
        }
    }
}
