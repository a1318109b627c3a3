import ConvKit
import ConvKitFiles
/// Pictures of what a network learned and what it sees: convolution kernels and feature maps as
/// grids of small grey tiles, each scaled to its own range (min → black, max → white) and enlarged
/// with nearest-neighbour so single weights stay visible.
public enum KernelImage {
    /// Every Conv2D layer's kernels, one section per layer: a row per input channel, a column per
    /// filter, each tile one KH×KW kernel slice.
    public static func kernels(of network: Sequential, labels: Bool = true) throws(ShapeError) -> Mosaic {
        var sections: [Mosaic.Section] = []
        for (index, layer) in network.layers.enumerated() {
            guard let conv = layer as? Conv2D else { continue }
            let shape = conv.kernel.shape  // (O, C, KH, KW)
            let (o, c, kh, kw) = (shape[0], shape[1], shape[2], shape[3])
            let weights = conv.kernel.value.array
            var tiles: [Mosaic.Tile] = []
            for channel in 0..<c {
                for filter in 0..<o {
                    let start = (filter * c + channel) * kh * kw
                    tiles.append(Mosaic.Tile(unchecked: Array(weights[start..<(start + kh * kw)]), kh, kw))
                }
            }
            let scale = max(8, min(12, 48 / max(kh, kw)))
            let label = "layer \(index) \(conv.spec): \(o) filter\(o == 1 ? "" : "s") across, \(c) input channel\(c == 1 ? "" : "s") down"
            sections.append(Mosaic.Section(label: labels ? label : nil, tiles: tiles, columns: o, scale: scale))
        }
        guard !sections.isEmpty else { throw ShapeError("the network has no convolution layer") }
        return Mosaic(sections: sections)
    }

    /// The input and every Conv2D layer's output for one sample (`input` already normalised as
    /// the network expects); with `activated`, also the output of an activation right after a conv.
    public static func featureMaps(of network: Sequential, input: Tensor, activated: Bool = false, labels: Bool = true) throws(ShapeError) -> Mosaic {
        let outputs = try network.activations(for: input)
        var sections = [section(outputs[0], label: labels ? "input" : nil)]
        for (index, layer) in network.layers.enumerated() {
            let isMap = layer is Conv2D || (activated && layer is Activation && index > 0 && network.layers[index - 1] is Conv2D)
            guard isMap, layer.outputShape.count == 3 else { continue }
            let s = layer.outputShape
            sections.append(section(outputs[index + 1], label: labels ? "layer \(index) \(layer.spec): \(s[1])x\(s[2])" : nil))
        }
        return Mosaic(sections: sections)
    }

    private static func section(_ maps: Tensor, label: String?) -> Mosaic.Section {
        let shape = maps.rank == 3 ? maps.shape : [1, maps.shape.first ?? 1, maps.count / max(maps.shape.first ?? 1, 1)]
        let (c, h, w) = (shape[0], shape[1], shape[2])
        let tiles = (0..<c).map { k in Mosaic.Tile(unchecked: Array(maps.scalars[(k * h * w)..<((k + 1) * h * w)]), h, w) }
        let scale = max(1, Int((80.0 / Double(max(h, w))).rounded()))
        return Mosaic.Section(label: label, tiles: tiles, columns: min(c, 8), scale: scale)
    }
}

/// Tiles laid out in labelled sections, stacked top to bottom, rendered as 8-bit RGB.
public struct Mosaic: Sendable {
    public struct Tile: Sendable {
        public let values: [Float]
        public let rows: Int
        public let cols: Int
        /// Throws `ShapeError` unless `values` fills rows × cols with both at least 1.
        public init(values: [Float], rows: Int, cols: Int) throws(ShapeError) {
            guard rows > 0, cols > 0, rows.multipliedReportingOverflow(by: cols) == (values.count, false) else {
                throw ShapeError("\(values.count) values for a \(rows)×\(cols) tile")
            }
            self.init(unchecked: values, rows, cols)
        }

        init(unchecked values: [Float], _ rows: Int, _ cols: Int) {
            self.values = values
            self.rows = rows
            self.cols = cols
        }
    }

    public struct Section: Sendable {
        public var label: String?
        public var tiles: [Tile]
        public var columns: Int
        /// Pixels per value.
        public var scale: Int
        public init(label: String?, tiles: [Tile], columns: Int, scale: Int) {
            self.label = label
            self.tiles = tiles
            self.columns = max(1, columns)
            self.scale = max(1, scale)
        }
    }

    /// Where a tile landed: its top-left pixel and its size in pixels.
    public struct Placement: Sendable {
        public var section: Int
        public var index: Int
        public var x: Int
        public var y: Int
        public var scale: Int
    }

    public let sections: [Section]
    public let placements: [Placement]
    public let width: Int
    public let height: Int

    static let margin = 6, gap = 2, sectionGap = 12
    /// A muted blue between black and white, so tiles' extremes both stand out from the gaps.
    public static let background: (UInt8, UInt8, UInt8) = (70, 90, 120)
    static let text: (UInt8, UInt8, UInt8) = (255, 255, 255)

    public init(sections: [Section]) {
        var placements: [Placement] = []
        var y = Self.margin, width = 0
        for (s, section) in sections.enumerated() {
            if let label = section.label {
                width = max(width, PixelFont.width(label) + 2 * Self.margin)
                y += PixelFont.height + 4
            }
            var rowHeight = 0, x = Self.margin
            for (i, tile) in section.tiles.enumerated() {
                if i > 0, i % section.columns == 0 {
                    y += rowHeight + Self.gap
                    x = Self.margin
                    rowHeight = 0
                }
                placements.append(Placement(section: s, index: i, x: x, y: y, scale: section.scale))
                x += tile.cols * section.scale + Self.gap
                rowHeight = max(rowHeight, tile.rows * section.scale)
                width = max(width, x - Self.gap + Self.margin)
            }
            y += rowHeight + (s == sections.count - 1 ? Self.margin : Self.sectionGap)
        }
        self.sections = sections
        self.placements = placements
        self.width = max(width, 1)
        self.height = max(y, 1)
    }

    public func tile(_ p: Placement) -> Tile { sections[p.section].tiles[p.index] }

    /// height × width × 3 bytes.
    public var rgb: [UInt8] {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) {
            (pixels[3 * i], pixels[3 * i + 1], pixels[3 * i + 2]) = Self.background
        }
        func set(_ x: Int, _ y: Int, _ c: (UInt8, UInt8, UInt8)) {
            guard x >= 0, x < width, y >= 0, y < height else { return }
            let at = 3 * (y * width + x)
            (pixels[at], pixels[at + 1], pixels[at + 2]) = c
        }
        for p in placements {
            let tile = tile(p)
            let grey = Self.grey(tile.values)
            for r in 0..<(tile.rows * p.scale) {
                for c in 0..<(tile.cols * p.scale) {
                    let g = grey[(r / p.scale) * tile.cols + c / p.scale]
                    set(p.x + c, p.y + r, (g, g, g))
                }
            }
        }
        for (s, section) in sections.enumerated() {
            guard let label = section.label, let first = placements.first(where: { $0.section == s }) else { continue }
            PixelFont.draw(label, x: Self.margin, y: first.y - PixelFont.height - 4) { set($0, $1, Self.text) }
        }
        return pixels
    }

    public var png: [UInt8] { PNG.encodeChecked(width: width, height: height, channels: 3, pixels: rgb) }

    /// min → 0, max → 255; a constant tile is mid-grey.
    static func grey(_ values: [Float]) -> [UInt8] {
        guard let lo = values.min(), let hi = values.max(), hi > lo, lo.isFinite, hi.isFinite else {
            return [UInt8](repeating: 128, count: values.count)
        }
        let k = 255 / (hi - lo)
        return values.map { UInt8(max(0, min(255, (($0 - lo) * k).rounded()))) }
    }
}

/// A 3×5 capital-letter font, drawn at 2× (6×10 px per glyph), enough to label a picture
/// without a font library. Lowercase is drawn as uppercase; unknown characters as blanks.
enum PixelFont {
    static let scale = 2
    static let height = 5 * scale
    static let advance = 4 * scale

    static func width(_ text: String) -> Int { max(0, text.count * advance - scale) }

    static func draw(_ text: String, x: Int, y: Int, plot: (Int, Int) -> Void) {
        for (k, character) in text.uppercased().enumerated() {
            guard let rows = glyphs[character] else { continue }
            for (r, row) in rows.split(separator: " ").enumerated() {
                for (c, bit) in row.enumerated() where bit == "#" {
                    for dy in 0..<scale { for dx in 0..<scale { plot(x + k * advance + c * scale + dx, y + r * scale + dy) } }
                }
            }
        }
    }

    static let glyphs: [Character: String] = [
        "A": ".#. #.# ### #.# #.#", "B": "##. #.# ##. #.# ##.", "C": ".## #.. #.. #.. .##", "D": "##. #.# #.# #.# ##.",
        "E": "### #.. ##. #.. ###", "F": "### #.. ##. #.. #..", "G": ".## #.. #.# #.# .##", "H": "#.# #.# ### #.# #.#",
        "I": "### .#. .#. .#. ###", "J": "..# ..# ..# #.# .#.", "K": "#.# #.# ##. #.# #.#", "L": "#.. #.. #.. #.. ###",
        "M": "#.# ### ### #.# #.#", "N": "##. #.# #.# #.# #.#", "O": ".#. #.# #.# #.# .#.", "P": "##. #.# ##. #.. #..",
        "Q": ".#. #.# #.# ##. .##", "R": "##. #.# ##. #.# #.#", "S": ".## #.. .#. ..# ##.", "T": "### .#. .#. .#. .#.",
        "U": "#.# #.# #.# #.# ###", "V": "#.# #.# #.# #.# .#.", "W": "#.# #.# ### ### #.#", "X": "... #.# .#. #.# ...",
        "Y": "#.# #.# .#. .#. .#.", "Z": "### ..# .#. #.. ###",
        "0": "### #.# #.# #.# ###", "1": ".#. ##. .#. .#. ###", "2": "##. ..# .#. #.. ###", "3": "##. ..# .#. ..# ##.",
        "4": "#.# #.# ### ..# ..#", "5": "### #.. ##. ..# ##.", "6": ".## #.. ### #.# ###", "7": "### ..# .#. .#. .#.",
        "8": "### #.# ### #.# ###", "9": "### #.# ### ..# ##.",
        ":": "... .#. ... .#. ...", "-": "... ... ### ... ...", ".": "... ... ... ... .#.", ",": "... ... ... .#. #..",
        "(": ".#. #.. #.. #.. .#.", ")": ".#. ..# ..# ..# .#.", "×": "... #.# .#. #.# ...", "/": "..# ..# .#. #.. #..",
    ]
}
