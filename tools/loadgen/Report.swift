import Foundation
import Histogram
import NostrCrypto

/// The run's figures: per operation and in total, throughput counted from replies that passed their check.
struct Report {
    var records: [String: OperationRecord] = [:]
    let measured: Duration

    /// Checks every kept reply (on all cores: a Schnorr verify each) and files each as a success or an error.
    static func build(from lanes: [LaneOutcome], measured: Duration) async -> Report {
        var report = Report(measured: measured)
        for lane in lanes {
            for (operation, codes) in lane.failures {
                for (code, count) in codes { report.records[operation, default: OperationRecord()].errors[code, default: 0] += count }
            }
        }
        let pending = lanes.flatMap(\.pending)
        let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let chunk = (pending.count + cores - 1) / max(cores, 1)
        let partials = await withTaskGroup(of: [String: OperationRecord].self) { group in
            for start in stride(from: 0, to: pending.count, by: max(chunk, 1)) {
                let slice = pending[start..<min(start + chunk, pending.count)]
                group.addTask {
                    var records: [String: OperationRecord] = [:]
                    for reply in slice {
                        if let failure = reply.check.failure() {
                            records[reply.operation, default: OperationRecord()].recordFailure(failure)
                        } else {
                            records[reply.operation, default: OperationRecord()].recordSuccess(reply.latency)
                        }
                    }
                    return records
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        for partial in partials {
            for (operation, record) in partial { report.records[operation, default: OperationRecord()].merge(record) }
        }
        return report
    }

    var total: OperationRecord {
        self.records.values.reduce(into: OperationRecord()) { $0.merge($1) }
    }

    private var seconds: Double { Double(self.measured.components.seconds) + Double(self.measured.components.attoseconds) / 1e18 }

    private func summary(_ record: OperationRecord) -> JSONValue {
        let errors = record.errors.values.reduce(0, +)
        func milliseconds(_ microseconds: UInt64) -> JSONValue { .number(String(format: "%.3f", Double(microseconds) / 1000)) }
        var object: [String: JSONValue] = [
            "requests": .number(String(record.succeeded + errors)),
            "succeeded": .number(String(record.succeeded)),
            "errors": .object(record.errors.mapValues { .number(String($0)) }),
            "throughput_per_s": .number(String(format: "%.1f", Double(record.succeeded) / self.seconds)),
        ]
        if record.succeeded > 0 {
            let latency = record.latency
            object["latency_ms"] = .object([
                "p50": milliseconds(latency.valueAtPercentile(50)), "p90": milliseconds(latency.valueAtPercentile(90)),
                "p99": milliseconds(latency.valueAtPercentile(99)), "p99_9": milliseconds(latency.valueAtPercentile(99.9)),
                "max": milliseconds(latency.max), "mean": .number(String(format: "%.3f", latency.mean / 1000)),
            ])
            // The percentile spectrum, for plotting the latency distribution.
            object["percentiles_ms"] = .array(
                latency.percentiles(ticksPerHalfDistance: 5).map { step in
                    .array([.number(String(format: "%.5f", step.percentileLevelIteratedTo)), milliseconds(step.value)])
                }
            )
        }
        return .object(object)
    }

    func json(configuration: [String: JSONValue], loadgenCPUSeconds: Double) -> JSONValue {
        let total = self.total
        return .object([
            "configuration": .object(configuration),
            "cores": .number(String(ProcessInfo.processInfo.activeProcessorCount)),
            "measured_s": .number(String(format: "%.3f", self.seconds)),
            "operations": .object(self.records.mapValues { self.summary($0) }),
            "total": self.summary(total),
            "loadgen_cpu_us_per_request": .number(
                String(format: "%.1f", loadgenCPUSeconds * 1e6 / Double(max(1, total.succeeded + total.errors.values.reduce(0, +))))
            ),
        ])
    }

    /// A few lines for people.
    func text() -> String {
        var lines: [String] = []
        for (operation, record) in self.records.sorted(by: { $0.key < $1.key }) + [("total", self.total)] {
            let latency = record.latency
            var line = operation.padding(toLength: 18, withPad: " ", startingAt: 0)
            line += String(format: "%9.1f/s ok %8d", Double(record.succeeded) / self.seconds, record.succeeded)
            if record.succeeded > 0 {
                line += String(
                    format: "  p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f ms", Double(latency.valueAtPercentile(50)) / 1000,
                    Double(latency.valueAtPercentile(90)) / 1000, Double(latency.valueAtPercentile(99)) / 1000,
                    Double(latency.valueAtPercentile(99.9)) / 1000, Double(latency.max) / 1000
                )
            }
            if !record.errors.isEmpty {
                line += "  errors " + record.errors.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}

/// CPU time (user + system) of this process, so the report can say what the load generator itself cost.
enum OwnCPU {
    static func seconds() -> Double {
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }
}
