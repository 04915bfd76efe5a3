import Foundation
import Logging
import NostrCrypto
import Synchronization

/// How log lines look: `text` (swift-log's stream format) or `json` (one object per line). Set by `signer serve`
/// from its configuration before it creates any logger; the one-shot commands keep the defaults.
enum LogSettings {
    private static let current = Mutex<(format: ServeConfiguration.LogFormat, level: Logger.Level)>((.text, .warning))

    static func apply(format: ServeConfiguration.LogFormat, level: Logger.Level) {
        self.current.withLock { $0 = (format, level) }
    }

    /// The handler for `label`, as the settings are now. Logs go to stderr, so stdout stays for answers.
    static func handler(label: String) -> any LogHandler {
        let (format, level) = self.current.withLock { $0 }
        var handler = SignerLogHandler(label: label, format: format)
        handler.logLevel = level
        return handler
    }
}

/// Log lines on stderr, one per event, formatted when written: swift-log's own `StreamLogHandler` formats its
/// metadata every time a key is set, and every request sets two (its trace id and Hummingbird's request id) whether
/// or not anything is logged.
/// - `text`: swift-log's stream format, `time level label: key=value [source] message`;
/// - `json`: one object per line: `time`, `level`, `label`, `message`, then the metadata as strings.
struct SignerLogHandler: LogHandler {
    let label: String
    let format: ServeConfiguration.LogFormat
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    private static let lock = Mutex<Void>(())

    init(label: String, format: ServeConfiguration.LogFormat) {
        self.label = label
        self.format = format
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let line = self.line(for: event, at: Date())
        Self.lock.withLock { _ in FileHandle.standardError.write(Data(line.utf8)) }
    }

    /// The line `event` is written as, newline included.
    func line(for event: LogEvent, at time: Date) -> String {
        let merged = self.metadata.merging(event.metadata ?? [:]) { _, new in new }
        switch self.format {
        case .text:
            let pairs = merged.keys.sorted().map { "\($0)=\(merged[$0]!)" }.joined(separator: " ")
            let stamp = time.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: false).timeZone(separator: .omitted))
            return "\(stamp) \(event.level) \(self.label):\(pairs.isEmpty ? "" : " " + pairs) [\(event.source)] \(event.message)\n"
        case .json:
            var fields: [(String, String)] = [
                ("time", time.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))),
                ("level", event.level.rawValue), ("label", self.label), ("message", event.message.description),
            ]
            for key in merged.keys.sorted() where !["time", "level", "label", "message"].contains(key) {
                fields.append((key, "\(merged[key]!)"))
            }
            // NostrCrypto's JSON writer does the escaping.
            let members = fields.map { JSONValue.string($0.0).serialized() + ":" + JSONValue.string($0.1).serialized() }
            return "{" + members.joined(separator: ",") + "}\n"
        }
    }
}
