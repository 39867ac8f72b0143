import Foundation
import Training

/// The loss curve `limrank train` writes beside its model (`loss_curve.svg`):
/// the training loss of every optimizer step, its moving average (single
/// steps are noisy at small batch sizes, the trend is what tells whether a
/// run learns), and the final validation loss as a dashed line.
enum LossCurvePlot {
    static let fileName = "loss_curve.svg"
    static let raw = "#90a4ae", smooth = "#1565c0", validation = "#c62828", axis = "#444", grid = "#ddd"

    /// Steps averaged by the smoothed line: a tenth of the run, at least 1.
    static func window(steps: Int) -> Int { max(1, steps / 10) }

    static func svg(losses: [Float], validationLoss: Double?, title: String) -> String {
        let width = 960.0, height = 420.0
        let left = 70.0, right = 24.0, top = 58.0, bottom = 50.0
        var svg = SVGDocument(width: width, height: height)
        let values = losses.map(Double.init).filter(\.isFinite)
        svg.text(title, x: left, y: 24, size: 15, weight: "bold")
        let final = losses.last.map { String(format: "final loss %.4f", Double($0)) } ?? "no steps"
        let held = validationLoss.map { String(format: ", validation loss %.4f", $0) } ?? ""
        let key = "grey: each step" + (window(steps: losses.count) > 1 ? ", blue: moving average over \(window(steps: losses.count)) steps" : "")
            + (validationLoss == nil ? "" : ", red dashed: validation loss")
        svg.text("\(losses.count) optimizer steps, \(final)\(held); \(key)",
                 x: left, y: 44, size: 12, fill: "#555")
        let plotTop = top, plotBottom = height - bottom, plotLeft = left, plotRight = width - right
        guard !values.isEmpty else { return svg.rendered }
        let low = min(values.min()!, validationLoss ?? .infinity), high = max(values.max()!, validationLoss ?? -.infinity)
        let step = DeltaPlot.niceStep(max(high - low, 1e-6))
        let yMin = (low / step).rounded(.down) * step, yMax = max((high / step).rounded(.up) * step, yMin + step)
        func y(_ value: Double) -> Double { plotBottom - (value - yMin) / (yMax - yMin) * (plotBottom - plotTop) }
        func x(_ index: Int) -> Double {
            losses.count == 1 ? (plotLeft + plotRight) / 2 : plotLeft + Double(index) / Double(losses.count - 1) * (plotRight - plotLeft)
        }
        var tick = yMin
        while tick <= yMax + step / 2 {
            svg.line(x1: plotLeft, y1: y(tick), x2: plotRight, y2: y(tick), stroke: grid)
            svg.text(String(format: step < 0.01 ? "%.3f" : "%.2f", tick), x: plotLeft - 6, y: y(tick) + 4, size: 11, anchor: .end, fill: axis)
            tick += step
        }
        let points = losses.enumerated().compactMap { i, loss in loss.isFinite ? (x: x(i), y: y(Double(loss))) : nil }
        svg.polyline(points, stroke: raw, width: 1)
        let k = window(steps: losses.count)
        if k > 1 {
            var smoothed: [(x: Double, y: Double)] = []
            var sum = 0.0, count = 0
            for (i, loss) in losses.enumerated() {
                if loss.isFinite { sum += Double(loss); count += 1 }
                if i >= k, losses[i - k].isFinite { sum -= Double(losses[i - k]); count -= 1 }
                if count > 0 { smoothed.append((x: x(i), y: y(sum / Double(count)))) }
            }
            svg.polyline(smoothed, stroke: smooth, width: 2)
        }
        if let validationLoss {
            svg.line(x1: plotLeft, y1: y(validationLoss), x2: plotRight, y2: y(validationLoss), stroke: validation, width: 1.5, dash: "6,4")
        }
        svg.line(x1: plotLeft, y1: plotBottom, x2: plotRight, y2: plotBottom, stroke: axis)
        svg.line(x1: plotLeft, y1: plotTop, x2: plotLeft, y2: plotBottom, stroke: axis)
        svg.text("optimizer step (1 .. \(losses.count))", x: (plotLeft + plotRight) / 2, y: plotBottom + 32, size: 12, anchor: .middle, fill: axis)
        svg.text("training loss", x: 18, y: (plotTop + plotBottom) / 2, size: 12, anchor: .middle, fill: axis, rotate: -90)
        return svg.rendered
    }

    /// What every `limrank train` method leaves beside its model: the
    /// method's `training_summary.json` and this curve of the run's losses.
    static func writeRunFiles(summary: some Encodable, of run: TrainingSummary, method: String, into directory: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(summary).write(to: directory.appendingPathComponent("training_summary.json"))
        try Data(svg(losses: run.losses, validationLoss: run.validationLoss, title: "limrank train \(method)").utf8)
            .write(to: directory.appendingPathComponent(fileName))
    }
}
