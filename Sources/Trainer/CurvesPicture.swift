import Core
import Foundation

/// An SVG picture of a run's `metrics.jsonl`: the total loss (and each loss) against the
/// iteration, and each evaluation's headline metric (PQ, mIoU, AP) against the iteration. No plotting
/// library: a few polylines and labels.
public enum CurvesPicture {
    public static func write(metrics path: String, to output: String) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw InputError(path, "cannot read the metrics") }
        var series: [String: [(Double, Double)]] = [:]
        for line in text.split(separator: "\n") {
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                  let it = (object["iteration"] as? NSNumber)?.doubleValue else { continue }
            for (k, v) in object where k != "iteration" && k != "time" && k != "data_time" && k != "lr" {
                if let n = (v as? NSNumber)?.doubleValue, n.isFinite { series[k, default: []].append((it, n)) }
            }
        }
        let losses = series.keys.filter { $0 == "total_loss" || $0.hasPrefix("loss_") }.sorted()
        // The headline metric of each evaluation (metrics.jsonl also holds AP50, AR..., per class).
        let headline: Set<Substring> = ["PQ", "PQ_th", "PQ_st", "mIoU", "AP"]
        let evals = series.keys.filter { $0.contains("/") && headline.contains($0.split(separator: "/").last!) }.sorted()
        var panels: [(String, [String])] = [("losses", losses)]
        if !evals.isEmpty { panels.append(("evaluation (fractions)", evals)) }
        let (width, panelHeight) = (720.0, 300.0)
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(panelHeight * Double(panels.count)))\" font-family=\"sans-serif\" font-size=\"11\">\n"
        let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
        for (p, (title, keys)) in panels.enumerated() {
            let top = Double(p) * panelHeight
            let (left, right, plotTop, plotBottom) = (60.0, width - 200, top + 30, top + panelHeight - 40)
            let points = keys.flatMap { series[$0]! }
            guard let xMin = points.map(\.0).min(), let xMax = points.map(\.0).max(),
                  let yMin = points.map(\.1).min(), let yMax = points.map(\.1).max() else { continue }
            let (y0, y1) = (min(yMin, 0), yMax == min(yMin, 0) ? yMax + 1 : yMax)
            func x(_ v: Double) -> Double { left + (right - left) * (xMax == xMin ? 0.5 : (v - xMin) / (xMax - xMin)) }
            func y(_ v: Double) -> Double { plotBottom - (plotBottom - plotTop) * (v - y0) / (y1 - y0) }
            svg += "<text x=\"\(left)\" y=\"\(top + 18)\" font-size=\"13\">\(title)</text>\n"
            svg += "<rect x=\"\(left)\" y=\"\(plotTop)\" width=\"\(right - left)\" height=\"\(plotBottom - plotTop)\" fill=\"none\" stroke=\"#999\"/>\n"
            svg += String(format: "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">%.3g</text>\n", left - 4, plotTop + 4, y1)
            svg += String(format: "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">%.3g</text>\n", left - 4, plotBottom, y0)
            svg += String(format: "<text x=\"%.0f\" y=\"%.0f\">%.0f</text>\n", left, plotBottom + 16, xMin)
            svg += String(format: "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">iteration %.0f</text>\n", right, plotBottom + 16, xMax)
            for (i, key) in keys.enumerated() {
                let color = palette[i % palette.count]
                let line = series[key]!.map { String(format: "%.1f,%.1f", x($0.0), y($0.1)) }.joined(separator: " ")
                svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\" points=\"\(line)\"/>\n"
                svg += "<text x=\"\(right + 8)\" y=\"\(plotTop + 14 * Double(i) + 10)\" fill=\"\(color)\">\(key)</text>\n"
            }
        }
        svg += "</svg>\n"
        try AtomicFile.write(svg, to: output)
    }
}
