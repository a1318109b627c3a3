import ConvKit
import ConvKitFiles
import Foundation

/// A line chart as a standalone SVG document: panels side by side, each with its own y axis,
/// round-valued ticks, grid lines, a title, and one polyline per series. Written by hand so the
/// project needs no plotting dependency; the output is plain SVG 1.1 that browsers and rsvg draw.
public struct LineChart: Sendable {
    public struct Series: Sendable {
        public var run: String
        public var metric: String
        public var points: [(x: Double, y: Double)]
        public var colour: String
        public var dashed: Bool

        public init(run: String, metric: String, points: [(x: Double, y: Double)], colour: String, dashed: Bool = false) {
            self.run = run
            self.metric = metric
            self.points = points
            self.colour = colour
            self.dashed = dashed
        }
    }

    public struct Panel: Sendable {
        public var title: String
        public var xLabel: String
        public var yLabel: String
        public var series: [Series]
        /// Tick labels as percentages of y (y in 0…1).
        public var percent: Bool
        /// Stretch the y axis down to zero (losses), rather than fitting the data (accuracies).
        public var includeZero: Bool
        /// A logarithmic y axis, for losses that fall by decades.
        public var logarithmic: Bool

        public init(title: String, xLabel: String, yLabel: String, series: [Series], percent: Bool = false, includeZero: Bool = false,
                    logarithmic: Bool = false) {
            self.title = title
            self.xLabel = xLabel
            self.yLabel = yLabel
            self.series = series
            self.percent = percent
            self.includeZero = includeZero
            self.logarithmic = logarithmic
        }
    }

    public struct LegendEntry: Sendable {
        public var label: String
        public var colour: String
        public var dashed: Bool
        public init(label: String, colour: String, dashed: Bool = false) {
            self.label = label
            self.colour = colour
            self.dashed = dashed
        }
    }

    public var title: String
    public var panels: [Panel]
    public var legend: [LegendEntry]
    public var panelWidth = 440.0
    public var plotHeight = 250.0

    public init(title: String, panels: [Panel], legend: [LegendEntry]) {
        self.title = title
        self.panels = panels
        self.legend = legend
    }

    /// Tableau 10: distinct hues that stay distinguishable for most colour-blind readers.
    public static let palette = ["#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f", "#bab0ac"]

    // Layout, in SVG user units (px).
    private let left = 64.0, right = 24.0, top = 92.0, bottom = 52.0

    public var svg: String {
        let width = (Double(panels.count) * panelWidth).rounded()
        let height = top + plotHeight + bottom
        var out = """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(f(width))" height="\(f(height))" viewBox="0 0 \(f(width)) \(f(height))" \
        font-family="Helvetica, Arial, sans-serif" font-size="12" fill="#333">

        """
        out += "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n"
        out += "<text x=\"\(f(width / 2))\" y=\"26\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">\(escape(title))</text>\n"
        out += legendSVG(width: width)
        for (k, panel) in panels.enumerated() {
            out += panelSVG(panel, x0: Double(k) * panelWidth)
        }
        out += "</svg>\n"
        return out
    }

    private func legendSVG(width: Double) -> String {
        // Entries in one centred row; widths estimated from the character count (no font metrics here).
        let sizes = legend.map { 34 + 6.5 * Double($0.label.count) + 16 }
        var x = (width - sizes.reduce(0, +)) / 2
        var out = "<g class=\"legend\">\n"
        for (entry, size) in zip(legend, sizes) {
            out += "<line x1=\"\(f(x))\" y1=\"50\" x2=\"\(f(x + 26))\" y2=\"50\" stroke=\"\(entry.colour)\" stroke-width=\"2.5\""
                + (entry.dashed ? " stroke-dasharray=\"6 4\"" : "") + "/>\n"
            out += "<text x=\"\(f(x + 32))\" y=\"54\">\(escape(entry.label))</text>\n"
            x += size
        }
        return out + "</g>\n"
    }

    private func panelSVG(_ panel: Panel, x0: Double) -> String {
        let all = panel.series.flatMap(\.points)
        let xs = all.map(\.x), ys = all.map(\.y)
        let xScale = AxisScale.nice(min: min(0, xs.min() ?? 0), max: max(1, xs.max() ?? 1), integer: true)
        var yMin = ys.min() ?? 0, yMax = ys.max() ?? 1
        if panel.includeZero && !panel.logarithmic { yMin = min(0, yMin) }
        if panel.percent { yMax = min(yMax, 1) }
        var yScale = panel.logarithmic ? AxisScale.logarithmic(min: yMin, max: yMax) : AxisScale.nice(min: yMin, max: yMax)
        if panel.percent, yScale.high > 1 { yScale = AxisScale(low: yScale.low, high: 1, step: yScale.step) }

        let plotLeft = x0 + left, plotRight = x0 + panelWidth - right
        let plotTop = top, plotBottom = top + plotHeight
        func px(_ x: Double) -> Double { plotLeft + (x - xScale.low) / (xScale.high - xScale.low) * (plotRight - plotLeft) }
        func py(_ y: Double) -> Double {
            let (v, low, high) = yScale.isLogarithmic
                ? (log10(max(y, yScale.low)), log10(yScale.low), log10(yScale.high)) : (y, yScale.low, yScale.high)
            return plotBottom - (v - low) / (high - low) * (plotBottom - plotTop)
        }

        var out = "<g class=\"panel\">\n"
        out += "<text x=\"\(f((plotLeft + plotRight) / 2))\" y=\"\(f(plotTop - 10))\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">\(escape(panel.title))</text>\n"
        // Grid and tick labels.
        for y in yScale.ticks {
            let label = panel.percent ? yScale.label(y * 100, scaledStep: yScale.step * 100) + "%"
                : yScale.isLogarithmic ? String(format: "%g", y) : yScale.label(y)
            out += "<line x1=\"\(f(plotLeft))\" y1=\"\(f(py(y)))\" x2=\"\(f(plotRight))\" y2=\"\(f(py(y)))\" stroke=\"#e5e5e5\"/>\n"
            out += "<text x=\"\(f(plotLeft - 6))\" y=\"\(f(py(y) + 4))\" text-anchor=\"end\">\(label)</text>\n"
        }
        for x in xScale.ticks {
            out += "<line x1=\"\(f(px(x)))\" y1=\"\(f(plotBottom))\" x2=\"\(f(px(x)))\" y2=\"\(f(plotBottom + 5))\" stroke=\"#666\"/>\n"
            out += "<text x=\"\(f(px(x)))\" y=\"\(f(plotBottom + 18))\" text-anchor=\"middle\">\(xScale.label(x))</text>\n"
        }
        // Axes and their labels.
        out += "<polyline points=\"\(f(plotLeft)),\(f(plotTop)) \(f(plotLeft)),\(f(plotBottom)) \(f(plotRight)),\(f(plotBottom))\" fill=\"none\" stroke=\"#666\"/>\n"
        out += "<text x=\"\(f((plotLeft + plotRight) / 2))\" y=\"\(f(plotBottom + 38))\" text-anchor=\"middle\">\(escape(panel.xLabel))</text>\n"
        let yLabelX = x0 + 16, yLabelY = (plotTop + plotBottom) / 2
        out += "<text x=\"\(f(yLabelX))\" y=\"\(f(yLabelY))\" text-anchor=\"middle\" transform=\"rotate(-90 \(f(yLabelX)) \(f(yLabelY)))\">\(escape(panel.yLabel))</text>\n"
        // The data: one polyline per series, markers with a hover title while they stay few.
        for s in panel.series {
            let points = s.points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
            out += "<polyline class=\"series\" data-run=\"\(escape(s.run))\" data-metric=\"\(escape(s.metric))\" points=\"\(points)\" "
                + "fill=\"none\" stroke=\"\(s.colour)\" stroke-width=\"2\" stroke-linejoin=\"round\" stroke-linecap=\"round\""
                + (s.dashed ? " stroke-dasharray=\"6 4\"" : "") + "/>\n"
            guard s.points.count <= 60 else { continue }
            for p in s.points {
                let value = panel.percent ? String(format: "%.2f%%", 100 * p.y) : String(format: "%.4g", p.y)
                out += "<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"2.5\" fill=\"\(s.dashed ? "#fff" : s.colour)\" stroke=\"\(s.colour)\" stroke-width=\"1.5\">"
                    + "<title>\(escape(s.run)) · \(escape(s.metric)) · epoch \(xScale.label(p.x)): \(value)</title></circle>\n"
            }
        }
        return out + "</g>\n"
    }

    private func f(_ x: Double) -> String {
        let r = (x * 10).rounded() / 10
        return r == r.rounded() ? String(Int(r)) : String(format: "%.1f", r)
    }
}

/// An axis range widened to round numbers, with a step of 1, 2 or 5 × 10ᵏ giving about five ticks.
public struct AxisScale: Equatable, Sendable {
    public var low: Double
    public var high: Double
    public var step: Double

    /// Ticks at 1, 2 and 5 × 10ᵏ between low and high (both powers of ten) rather than every step.
    public var isLogarithmic = false

    public init(low: Double, high: Double, step: Double) {
        self.low = low
        self.high = high
        self.step = step
    }

    /// Whole decades around the positive data; non-positive values are drawn at the bottom.
    public static func logarithmic(min lo: Double, max hi: Double) -> AxisScale {
        let hi = hi > 0 && hi.isFinite ? hi : 1
        let lo = lo > 0 && lo.isFinite ? Swift.min(lo, hi) : hi / 10
        var low = floor(log10(lo) + 1e-9), high = ceil(log10(hi) - 1e-9)
        if high <= low { high = low + 1 }
        if high - low > 12 { low = high - 12 }
        var scale = AxisScale(low: pow(10, low), high: pow(10, high), step: 10)
        scale.isLogarithmic = true
        return scale
    }

    public static func nice(min lo: Double, max hi: Double, ticks: Int = 5, integer: Bool = false) -> AxisScale {
        var lo = lo, hi = hi
        if !(lo.isFinite && hi.isFinite) { (lo, hi) = (0, 1) }
        if hi - lo < 1e-12 * max(1, abs(hi)) {
            // A flat line: give it some room around its value.
            let pad = lo == 0 ? 1 : abs(lo) * 0.1
            (lo, hi) = (lo - pad, hi + pad)
        }
        let rough = (hi - lo) / Double(max(ticks - 1, 1))
        let magnitude = pow(10, floor(log10(rough)))
        let step0 = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= rough * 0.7 } ?? 10 * magnitude
        let step = integer ? max(1, step0.rounded(.up)) : step0
        return AxisScale(low: floor(lo / step + 1e-9) * step, high: ceil(hi / step - 1e-9) * step, step: step)
    }

    public var ticks: [Double] {
        if isLogarithmic {
            let decades = Int((log10(high) - log10(low)).rounded())
            let multiples: [Double] = decades <= 2 ? [1, 2, 5] : [1]
            return (0..<decades).flatMap { k in multiples.map { $0 * low * pow(10, Double(k)) } } + [high]
        }
        let n = Int(((high - low) / step).rounded())
        return (0...max(n, 0)).map { low + Double($0) * step }
    }

    /// A tick value with as many decimals as the step needs, and no "-0".
    public func label(_ value: Double, scaledStep: Double? = nil) -> String {
        let s = scaledStep ?? step
        // The fewest decimals that write the step exactly: 5 → 0, 2.5 → 1, 0.05 → 2.
        let decimals = (0...6).first { d in
            let scaled = s * pow(10, Double(d))
            return abs(scaled - scaled.rounded()) < 1e-6 * max(1, scaled)
        } ?? 6
        let text = String(format: "%.\(decimals)f", value)
        return Double(text) == 0 ? String(format: "%.\(decimals)f", 0.0) : text
    }
}

/// The chart `convkit plot` draws: training loss on the left; training (solid) and test (dashed)
/// accuracy on the right; one colour per run.
public enum TrainingCurves {
    public static func chart(runs: [(name: String, log: TrainingLog)], title: String = "Training curves",
                             logarithmicLoss: Bool = false) -> LineChart {
        var loss: [LineChart.Series] = [], accuracy: [LineChart.Series] = []
        var legend: [LineChart.LegendEntry] = []
        for (k, run) in runs.enumerated() {
            let colour = LineChart.palette[k % LineChart.palette.count]
            let epochs = run.log.epochs
            loss.append(.init(run: run.name, metric: "loss", points: epochs.map { (Double($0.epoch), $0.loss) }, colour: colour))
            accuracy.append(.init(run: run.name, metric: "train accuracy", points: epochs.map { (Double($0.epoch), $0.accuracy) }, colour: colour))
            let tested = epochs.compactMap { e in e.testAccuracy.map { (Double(e.epoch), $0) } }
            if !tested.isEmpty {
                accuracy.append(.init(run: run.name, metric: "test accuracy", points: tested, colour: colour, dashed: true))
            }
            legend.append(.init(label: run.name, colour: colour))
        }
        legend.append(.init(label: "train", colour: "#555"))
        if accuracy.contains(where: \.dashed) { legend.append(.init(label: "test", colour: "#555", dashed: true)) }
        return LineChart(title: title, panels: [
            .init(title: "Loss", xLabel: "epoch", yLabel: logarithmicLoss ? "training loss (log scale)" : "training loss", series: loss, includeZero: true,
                  logarithmic: logarithmicLoss),
            .init(title: "Accuracy", xLabel: "epoch", yLabel: "accuracy", series: accuracy, percent: true),
        ], legend: legend)
    }
}

func escape(_ text: String) -> String {
    var out = ""
    for c in text {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&apos;"
        default: out.append(c)
        }
    }
    return out
}
