import Foundation

/// A training progress line on stderr: step/total, loss, tokens/s and ETA.
/// On a terminal it redraws one line; otherwise (logs, pipes) it prints a
/// line at most every `interval` seconds and at the last step.
public struct ProgressReporter: Sendable {
    public let total: Int
    public let label: String
    public var interval: TimeInterval
    private let start: Date
    private let firstStep: Int
    private var lastPrint: Date
    private var tokens = 0
    private let interactive: Bool
    private let sink: @Sendable (String) -> Void

    /// `startStep` is where a resumed run begins, so rates count this run only.
    public init(total: Int, startStep: Int = 0, label: String = "train", interval: TimeInterval = 2,
                sink: (@Sendable (String) -> Void)? = nil) {
        self.total = total
        self.label = label
        self.interval = interval
        start = Date()
        lastPrint = .distantPast
        firstStep = startStep
        interactive = sink == nil && isatty(STDERR_FILENO) != 0
        self.sink = sink ?? { FileHandle.standardError.write(Data($0.utf8)) }
    }

    /// Records a finished step with its loss and the tokens it processed.
    public mutating func step(_ step: Int, loss: Float, tokens: Int, extra: String = "") {
        self.tokens += tokens
        let now = Date()
        guard step >= total || now.timeIntervalSince(lastPrint) >= (interactive ? 0.2 : interval) else { return }
        lastPrint = now
        let line = Self.format(label: label, step: step, total: total, loss: loss, tokens: self.tokens,
                               elapsed: now.timeIntervalSince(start), stepsDone: step - firstStep, extra: extra)
        if interactive {
            sink("\r\u{1B}[K" + line + (step >= total ? "\n" : ""))
        } else {
            sink(line + "\n")
        }
    }

    /// A message on its own line (validation loss, checkpoint written).
    public func note(_ message: String) {
        sink((interactive ? "\r\u{1B}[K" : "") + message + "\n")
    }

    public static func format(label: String, step: Int, total: Int, loss: Float, tokens: Int,
                              elapsed: TimeInterval, stepsDone: Int, extra: String = "") -> String {
        let width = 20
        let filled = total > 0 ? min(width, width * step / total) : width
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let rate = elapsed > 0 ? Double(tokens) / elapsed : 0
        let perStep = stepsDone > 0 ? elapsed / Double(stepsDone) : 0
        let eta = perStep * Double(max(0, total - step))
        var line = "\(label) [\(bar)] \(step)/\(total) loss \(String(format: "%.4f", loss)) "
            + "\(String(format: "%.0f", rate)) tok/s ETA \(duration(eta))"
        if !extra.isEmpty { line += " " + extra }
        return line
    }

    public static func duration(_ seconds: TimeInterval) -> String {
        let s = Int(seconds.rounded())
        if s >= 3600 { return "\(s / 3600)h\(String(format: "%02d", s % 3600 / 60))m" }
        if s >= 60 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
        return "\(s)s"
    }
}
