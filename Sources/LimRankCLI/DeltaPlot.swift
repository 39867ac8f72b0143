import Foundation

/// A minimal SVG document: elements appended as text, no dependency.
struct SVGDocument {
    var width: Double
    var height: Double
    private var elements: [String] = []

    init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func number(_ value: Double) -> String { String(format: "%.2f", value) }

    mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: String) {
        elements.append("<rect x=\"\(Self.number(x))\" y=\"\(Self.number(y))\" width=\"\(Self.number(width))\" height=\"\(Self.number(height))\" fill=\"\(fill)\"/>")
    }

    mutating func line(x1: Double, y1: Double, x2: Double, y2: Double, stroke: String, width: Double = 1, dash: String? = nil) {
        let dashed = dash.map { " stroke-dasharray=\"\($0)\"" } ?? ""
        elements.append("<line x1=\"\(Self.number(x1))\" y1=\"\(Self.number(y1))\" x2=\"\(Self.number(x2))\" y2=\"\(Self.number(y2))\" stroke=\"\(stroke)\" stroke-width=\"\(Self.number(width))\"\(dashed)/>")
    }

    mutating func polyline(_ points: [(x: Double, y: Double)], stroke: String, width: Double = 1.5) {
        let coordinates = points.map { "\(Self.number($0.x)),\(Self.number($0.y))" }.joined(separator: " ")
        elements.append("<polyline points=\"\(coordinates)\" fill=\"none\" stroke=\"\(stroke)\" stroke-width=\"\(Self.number(width))\"/>")
    }

    enum Anchor: String { case start, middle, end }

    mutating func text(_ text: String, x: Double, y: Double, size: Double = 12, anchor: Anchor = .start,
                       weight: String = "normal", fill: String = "#222", rotate: Double? = nil) {
        let rotation = rotate.map { " transform=\"rotate(\(Self.number($0)) \(Self.number(x)) \(Self.number(y)))\"" } ?? ""
        elements.append("<text x=\"\(Self.number(x))\" y=\"\(Self.number(y))\" font-size=\"\(Self.number(size))\" text-anchor=\"\(anchor.rawValue)\" font-weight=\"\(weight)\" fill=\"\(fill)\"\(rotation)>\(Self.escape(text))</text>")
    }

    var rendered: String {
        """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Self.number(width))" height="\(Self.number(height))" viewBox="0 0 \(Self.number(width)) \(Self.number(height))" font-family="Helvetica, Arial, sans-serif">
        <rect width="100%" height="100%" fill="white"/>
        \(elements.joined(separator: "\n"))
        </svg>

        """
    }
}

/// The per-query delta plot of `limrank compare --plot`: one panel per
/// system, a bar per query (system minus baseline), queries sorted from the
/// largest gain to the largest loss, so the share of wins, ties and losses
/// and their sizes read at a glance.
enum DeltaPlot {
    struct Panel {
        var title: String
        var subtitle: String
        var deltas: [Double]
    }

    static let win = "#2e7d32", loss = "#c62828", axis = "#444", grid = "#ddd"

    static func svg(panels: [Panel], measure: String) -> String {
        let width = 960.0, panelHeight = 300.0
        let left = 70.0, right = 20.0, top = 58.0, bottom = 46.0
        var svg = SVGDocument(width: width, height: panelHeight * Double(panels.count))
        // One y scale for every panel, so the panels compare by eye.
        let largest = panels.flatMap(\.deltas).map(abs).max() ?? 0
        let step = niceStep(largest)
        let limit = max(step, (largest / step).rounded(.up) * step)
        for (p, panel) in panels.enumerated() {
            let y0 = Double(p) * panelHeight
            let plotTop = y0 + top, plotBottom = y0 + panelHeight - bottom
            let plotWidth = width - left - right
            let zero = (plotTop + plotBottom) / 2
            let scale = (plotBottom - plotTop) / 2 / limit
            svg.text(panel.title, x: left, y: y0 + 22, size: 15, weight: "bold")
            svg.text(panel.subtitle, x: left, y: y0 + 42, size: 12, fill: "#555")
            // Grid lines and tick labels.
            let ticks = Int((limit / step).rounded())
            for i in -ticks...ticks {
                let tick = Double(i) * step
                let y = zero - tick * scale
                svg.line(x1: left, y1: y, x2: width - right, y2: y, stroke: grid)
                svg.text(i == 0 ? "0" : String(format: step < 0.01 ? "%+.3f" : "%+.2f", tick), x: left - 6, y: y + 4, size: 11, anchor: .end, fill: axis)
            }
            let sorted = panel.deltas.sorted(by: >)
            let barWidth = plotWidth / Double(max(sorted.count, 1))
            let gap = barWidth > 3 ? barWidth * 0.15 : 0
            for (i, delta) in sorted.enumerated() where delta != 0 {
                let x = left + Double(i) * barWidth
                let height = abs(delta) * scale
                svg.rect(x: x + gap / 2, y: delta > 0 ? zero - height : zero, width: max(barWidth - gap, 0.5), height: height,
                         fill: delta > 0 ? win : loss)
            }
            svg.line(x1: left, y1: zero, x2: width - right, y2: zero, stroke: axis, width: 1.2)
            svg.line(x1: left, y1: plotTop, x2: left, y2: plotBottom, stroke: axis)
            svg.text("queries, sorted by \u{0394} (n = \(sorted.count))", x: left + plotWidth / 2, y: plotBottom + 30, size: 12, anchor: .middle, fill: axis)
            svg.text("\u{0394} \(measure)", x: 18, y: zero, size: 12, anchor: .middle, fill: axis, rotate: -90)
        }
        return svg.rendered
    }

    /// A tick step of 1, 2 or 5 times a power of ten giving 2 to 5 ticks above zero.
    static func niceStep(_ largest: Double) -> Double {
        guard largest > 0 else { return 0.1 }
        let raw = largest / 4
        let power = pow(10, (log10(raw)).rounded(.down))
        for multiple in [1.0, 2.0, 5.0, 10.0] where raw <= multiple * power { return multiple * power }
        return 10 * power
    }
}
