import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import ConvKit
import ConvKitFiles
import ConvKitVisualization

@Suite("Training logs, curves, kernel and feature-map pictures, summaries")
struct VisualizationTests {
    static func report(_ epoch: Int, test: Double? = 0.9) -> EpochReport {
        EpochReport(epoch: epoch, loss: 1 / Double(epoch + 1), accuracy: 0.5 + 0.1 * Double(epoch), testAccuracy: test.map { $0 + 0.01 * Double(epoch) },
                    seconds: 0.25 * Double(epoch), learningRate: 0.1)
    }

    static func temporaryPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("convkit-viz-\(UUID().uuidString)-\(name)").path
    }

    // MARK: logs

    @Test("a JSON Lines log has one object per epoch, readable while the run is still going", arguments: ["run.jsonl", "run.csv"])
    func logLines(name: String) throws {
        let path = Self.temporaryPath(name)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let writer = try TrainingLogWriter(path: path)
        let reports = (1...3).map { Self.report($0) } + [Self.report(4, test: nil)]
        for r in reports { try writer.append(r) }

        // Read before the writer goes away: nothing may sit in a buffer.
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = text.split(separator: "\n").map(String.init)
        if name.hasSuffix(".jsonl") {
            #expect(lines.count == reports.count)
            for (line, r) in zip(lines, reports) {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                #expect((object["epoch"] as? NSNumber)?.intValue == r.epoch)
                #expect(abs(((object["loss"] as? NSNumber)?.doubleValue ?? -1) - r.loss) < 1e-12)
                #expect(Set(object.keys) == ["epoch", "loss", "accuracy", "test_accuracy", "seconds", "learning_rate"])
            }
        } else {
            #expect(lines.count == reports.count + 1)
            #expect(lines[0] == "epoch,loss,accuracy,test_accuracy,seconds,learning_rate")
            #expect(lines.dropFirst().map { Int($0.split(separator: ",")[0]) } == reports.map(\.epoch))
        }
        let back = try TrainingLog.read(path: path)
        #expect(back.epochs.map(\.epoch) == [1, 2, 3, 4])
        #expect(back.epochs.map(\.loss) == reports.map(\.loss))
        #expect(back.epochs.map(\.testAccuracy) == reports.map(\.testAccuracy))
    }

    @Test("a bad log line is reported with its line number")
    func badLogLine() {
        #expect(throws: TrainingLogError.badLine("x.jsonl", line: 2, reason: "no number for \"loss\"")) {
            try TrainingLog.parse("{\"epoch\":1,\"loss\":0.5,\"accuracy\":0.9}\n{\"epoch\":2}\n", format: .jsonLines, file: "x.jsonl")
        }
    }

    // MARK: SVG

    final class SVGCollector: NSObject, XMLParserDelegate {
        var elements: [(name: String, attributes: [String: String])] = []
        var texts: [String] = []
        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            elements.append((name, attributes))
        }
        func parser(_ parser: XMLParser, foundCharacters string: String) { texts.append(string) }
    }

    @Test("the curves SVG is well-formed XML with one polyline per run and metric, a point per epoch")
    func curvesSVG() throws {
        let runs: [(name: String, log: TrainingLog)] = [
            ("tutorial <&>", TrainingLog(epochs: (1...20).map { Self.report($0) })),
            ("lenet", TrainingLog(epochs: (1...2).map { Self.report($0) })),
            ("no-test", TrainingLog(epochs: (1...3).map { Self.report($0, test: nil) })),
        ]
        let svg = TrainingCurves.chart(runs: runs, title: "Two runs").svg
        let parser = XMLParser(data: Data(svg.utf8))
        let collector = SVGCollector()
        parser.delegate = collector
        #expect(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
        #expect(collector.elements.first?.name == "svg")

        let series = collector.elements.filter { $0.name == "polyline" && $0.attributes["class"] == "series" }
        let found = series.map { "\($0.attributes["data-run"]!)/\($0.attributes["data-metric"]!)" }
        #expect(found.sorted() == [
            "lenet/loss", "lenet/test accuracy", "lenet/train accuracy",
            "no-test/loss", "no-test/train accuracy",
            "tutorial <&>/loss", "tutorial <&>/test accuracy", "tutorial <&>/train accuracy",
        ])
        for s in series {
            let expected = runs.first { $0.name == s.attributes["data-run"] }!.log.epochs.count
            let points = s.attributes["points"]!.split(separator: " ")
            #expect(points.count == expected)
            #expect(points.allSatisfy { $0.split(separator: ",").count == 2 && $0.split(separator: ",").allSatisfy { Double($0) != nil } })
        }
        let text = collector.texts.joined()
        for label in ["Two runs", "Loss", "Accuracy", "epoch", "tutorial <&>", "lenet", "train", "test"] {
            #expect(text.contains(label), "missing label \(label)")
        }
    }

    @Test("axis ticks are round numbers covering the data")
    func niceTicks() {
        let a = AxisScale.nice(min: 0.0123, max: 0.4871)
        #expect(a.step == 0.1 && a.low == 0 && abs(a.high - 0.5) < 1e-12)
        #expect(a.ticks.map { a.label($0) } == ["0.0", "0.1", "0.2", "0.3", "0.4", "0.5"])
        let epochs = AxisScale.nice(min: 0, max: 20, integer: true)
        #expect(epochs.ticks == [0, 5, 10, 15, 20])
        #expect(epochs.ticks.map { epochs.label($0) } == ["0", "5", "10", "15", "20"])
        let flat = AxisScale.nice(min: 0, max: 2, integer: true)
        #expect(flat.step == 1 && flat.ticks == [0, 1, 2])
        let accuracy = AxisScale.nice(min: 0.962, max: 0.995)
        #expect(accuracy.low <= 0.962 && accuracy.high >= 0.995 && accuracy.ticks.count >= 3 && accuracy.ticks.count <= 9)
        let loss = AxisScale.logarithmic(min: 0.0045, max: 0.86)
        #expect(loss.isLogarithmic && loss.ticks.count == 4)
        #expect(zip(loss.ticks, [0.001, 0.01, 0.1, 1]).allSatisfy { abs($0 / $1 - 1) < 1e-9 })
        let narrow = AxisScale.logarithmic(min: 0.09, max: 0.32)
        #expect(zip(narrow.ticks, [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1]).allSatisfy { abs($0 / $1 - 1) < 1e-9 } && narrow.ticks.count == 7)
    }

    // MARK: PNG

    /// CRC-32 (ISO 3309, as PNG uses it), bit by bit: deliberately independent of zlib.
    static func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    /// Walks the chunks, checking every CRC; returns the chunk types and the IHDR fields.
    static func checkChunks(_ png: [UInt8]) throws -> (types: [String], width: Int, height: Int, colourType: Int) {
        #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
        func u32(_ i: Int) -> Int { Int(png[i]) << 24 | Int(png[i + 1]) << 16 | Int(png[i + 2]) << 8 | Int(png[i + 3]) }
        var at = 8, types: [String] = [], header = (0, 0, -1)
        while at < png.count {
            let length = u32(at)
            try #require(at + 12 + length <= png.count)
            let type = String(decoding: png[(at + 4)..<(at + 8)], as: UTF8.self)
            #expect(UInt32(u32(at + 8 + length)) == crc32(png[(at + 4)..<(at + 8 + length)]), "CRC of \(type)")
            if type == "IHDR" { header = (u32(at + 8), u32(at + 12), Int(png[at + 17])) }
            types.append(type)
            at += 12 + length
        }
        return (types, header.0, header.1, header.2)
    }

    @Test("kernel tiles put each kernel's largest weight at the white pixel and its smallest at the black one")
    func kernelPicture() throws {
        let conv = try Conv2D(input: [2, 7, 7], filters: 3, kernelHeight: 3, kernelWidth: 2)
        // Each slice (filter, channel) a different permutation, so max and min move around.
        var weights: [Float] = []
        for k in 0..<6 { weights += (0..<6).map { Float(($0 * 5 + k) % 6) - 2.5 + Float(k) } }
        try conv.kernel.set(Tensor(shape: conv.kernel.shape, scalars: weights))
        let network = try Sequential(inputShape: [2, 7, 7], layers: [conv, try ReLU(input: conv.outputShape)])
        let mosaic = try KernelImage.kernels(of: network)

        let png = mosaic.png
        let chunks = try Self.checkChunks(png)
        #expect(chunks.types == ["IHDR", "IDAT", "IEND"])
        #expect(chunks.width == mosaic.width && chunks.height == mosaic.height && chunks.colourType == 2)
        let image = try GreyImage.decode(png)
        #expect(image.width == mosaic.width && image.height == mosaic.height)

        #expect(mosaic.placements.count == 6)
        for p in mosaic.placements {
            // Rows are input channels, columns filters.
            let channel = p.index / 3, filter = p.index % 3
            let slice = Array(weights[((filter * 2 + channel) * 6)..<((filter * 2 + channel) * 6 + 6)])
            #expect(mosaic.tile(p).values == slice)
            #expect(p.scale >= 8)
            var brightest = (value: -1, at: (0, 0)), darkest = (value: 256, at: (0, 0))
            for y in p.y..<(p.y + 3 * p.scale) {
                for x in p.x..<(p.x + 2 * p.scale) {
                    let v = Int(image.pixels[y * image.width + x])
                    if v > brightest.value { brightest = (v, ((y - p.y) / p.scale, (x - p.x) / p.scale)) }
                    if v < darkest.value { darkest = (v, ((y - p.y) / p.scale, (x - p.x) / p.scale)) }
                }
            }
            let maxAt = slice.indices.max { slice[$0] < slice[$1] }!, minAt = slice.indices.min { slice[$0] < slice[$1] }!
            #expect(brightest.value == 255 && brightest.at == (maxAt / 2, maxAt % 2))
            #expect(darkest.value == 0 && darkest.at == (minAt / 2, minAt % 2))
            // The gap right of the tile is background, so neighbouring tiles do not run together.
            let gap = image.pixels[(p.y) * image.width + p.x + 2 * p.scale]
            #expect(gap != 0 && gap != 255)
        }
    }

    @Test("feature maps: the input, then each conv output, scaled per map")
    func featureMapPicture() throws {
        let network = try Architecture(input: [1, 12, 12], spec: "conv 4 3, relu, maxpool 2, conv 2 3, tanh, flatten, dense 3").build()
        var generator = SeededGenerator(seed: 7)
        network.initialize(.he, generator: &generator)
        let input = try Tensor(shape: [1, 12, 12], scalars: (0..<144).map { Float(($0 * 37) % 101) / 100 })

        let outputs = try network.activations(for: input)
        #expect(outputs.count == network.layers.count + 1)
        #expect(outputs[0] == input)
        #expect(outputs.map(\.shape) == [[1, 12, 12]] + network.layers.map(\.outputShape))
        let predicted = try network.forward(input.reshaped([1, 1, 12, 12]))
        #expect(outputs.last!.scalars == predicted.scalars)

        let maps = try KernelImage.featureMaps(of: network, input: input)
        #expect(maps.sections.map(\.tiles.count) == [1, 4, 2])
        #expect(maps.sections.map(\.label) == ["input", "layer 0 conv 4 3: 10x10", "layer 3 conv 2 3: 3x3"])
        let withActivations = try KernelImage.featureMaps(of: network, input: input, activated: true)
        #expect(withActivations.sections.map(\.tiles.count) == [1, 4, 4, 2, 2])

        // The brightest pixel of the first conv map sits on its largest value.
        let image = try GreyImage.decode(maps.png)
        let p = maps.placements.first { $0.section == 1 && $0.index == 2 }!
        let values = maps.tile(p).values
        let maxAt = values.indices.max { values[$0] < values[$1] }!
        let centre = (p.y + (maxAt / 10) * p.scale + p.scale / 2) * image.width + p.x + (maxAt % 10) * p.scale + p.scale / 2
        #expect(image.pixels[centre] == 255)
        #expect(try Self.checkChunks(maps.png).types == ["IHDR", "IDAT", "IEND"])
    }

    // MARK: summary

    @Test("the summary's parameter total is the number of scalars the model file holds", arguments: ["tutorial", "lenet"])
    func summaryParameters(arch: String) throws {
        let recipe = Recipe.named(arch)!
        let model = try Model(.init(architecture: recipe.architecture(recipe.digits.count), loss: recipe.loss,
                                    digits: recipe.digits, normalization: recipe.normalization))
        // Built in memory: reading model files back is being fixed separately (non-integer dimension).
        let scalars = model.file().tensors.reduce(0) { $0 + $1.tensor.count }
        #expect(scalars == model.network.parameterCount)
        let total = model.network.summary.split(separator: "\n").last { $0.contains("total") }!
        let numbers = total.split(separator: " ").compactMap { Int($0) }
        #expect(numbers.first == scalars)
        #expect(try model.file().encode().count > 4 * scalars)
    }
}
