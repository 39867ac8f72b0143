import Foundation
import Testing
@testable import LimRankCLI

@Suite struct LossCurvePlotTests {
    /// The number of points of each `<polyline>` in an SVG, in order.
    static func pointCounts(_ svg: String) -> [Int] {
        polylines(svg).map(\.count)
    }

    static func polylines(_ svg: String) -> [[(x: Double, y: Double)]] {
        svg.components(separatedBy: "<polyline points=\"").dropFirst().map { rest in
            rest.prefix { $0 != "\"" }.split(separator: " ").map { pair in
                let xy = pair.split(separator: ",").map { Double($0)! }
                return (x: xy[0], y: xy[1])
            }
        }
    }

    @Test func everyStepIsAPointAndLowerLossIsLower() {
        let losses: [Float] = [0.9, 0.7, 0.8, 0.5, 0.45, 0.6, 0.3, 0.35, 0.2, 0.25, 0.1, 0.15]
        let svg = LossCurvePlot.svg(losses: losses, validationLoss: 0.4, title: "t")
        let lines = Self.polylines(svg)
        // The raw curve, then the moving average over max(1, 12 / 10) = 1 step is not drawn.
        #expect(lines.count == 1 && lines[0].count == losses.count)
        let raw = lines[0]
        // x grows with the step; SVG y grows downwards, so a lower loss is drawn lower on the page's y axis.
        #expect(zip(raw, raw.dropFirst()).allSatisfy { $0.x < $1.x })
        for i in losses.indices {
            for j in losses.indices where losses[i] < losses[j] {
                #expect(raw[i].y > raw[j].y, "step \(i) (loss \(losses[i])) drawn above step \(j) (loss \(losses[j]))")
            }
        }
        #expect(svg.contains("stroke-dasharray"), "the validation loss line")
        #expect(svg.contains("validation loss 0.4000") && svg.contains("final loss 0.1500"))
    }

    @Test func movingAverageAppearsOnLongerRunsAndAveragesTheWindow() {
        let losses: [Float] = (0..<40).map { Float($0 % 2 == 0 ? 1.0 : 0.0) }
        let lines = Self.polylines(LossCurvePlot.svg(losses: losses, validationLoss: nil, title: "t"))
        #expect(LossCurvePlot.window(steps: 40) == 4)
        #expect(lines.count == 2 && lines[1].count == 40)
        // Past the first window the average of 4 alternating 1/0 steps is 0.5: one flat line, halfway between.
        let raw = lines[0], smooth = lines[1]
        let middle = (raw[0].y + raw[1].y) / 2
        for point in smooth.dropFirst(3) { #expect(abs(point.y - middle) < 0.01) }
    }

    @Test func emptyAndNonFiniteLossesDoNotCrash() {
        #expect(Self.pointCounts(LossCurvePlot.svg(losses: [], validationLoss: nil, title: "t")).isEmpty)
        #expect(Self.pointCounts(LossCurvePlot.svg(losses: [0.5, .nan, 0.4], validationLoss: nil, title: "t")) == [2])
    }
}
