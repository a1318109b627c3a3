import ArgumentParser
import ConvKitFiles
import ConvKitVisualization
import Foundation

struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw training curves (loss, accuracy) from one or more --log files as an SVG.")

    @Argument(help: "Logs written by convkit train --log (.jsonl or .csv); each becomes a run named after its file.")
    var logs: [String]
    @Option(help: "Where to write the SVG.") var out: String = "curves.svg"
    @Option(help: "Chart title.") var title: String = "Training curves"
    @Flag(help: "Draw the loss on a logarithmic axis (losses that fall by decades).") var logLoss = false

    func validate() throws {
        if logs.isEmpty { throw ValidationError("give at least one log file") }
    }

    func run() throws {
        var runs: [(name: String, log: TrainingLog)] = []
        for path in logs {
            let log = try TrainingLog.read(path: path)
            guard !log.epochs.isEmpty else { throw ValidationError("\(path) has no epochs") }
            runs.append((runName(path, among: logs), log))
        }
        let svg = TrainingCurves.chart(runs: runs, title: title, logarithmicLoss: logLoss).svg
        do { try svg.write(toFile: out, atomically: true, encoding: .utf8) } catch {
            throw ValidationError("cannot write \(out): \(error.localizedDescription)")
        }
        print("wrote \(out): \(runs.map { "\($0.name) (\($0.log.epochs.count) epochs)" }.joined(separator: ", "))")
    }

    /// The file name without directory and extension; the whole path when two logs share a name.
    func runName(_ path: String, among paths: [String]) -> String {
        func stem(_ p: String) -> String { URL(fileURLWithPath: p).deletingPathExtension().lastPathComponent }
        return paths.filter { stem($0) == stem(path) }.count > 1 ? path : stem(path)
    }
}
