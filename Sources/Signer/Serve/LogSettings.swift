import Foundation
import Logging
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
        switch format {
        case .text:
            var handler = TextLogHandler(label: label)
            handler.logLevel = level
            return handler
        case .json:
            var handler = JSONLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

/// swift-log's stream format on stderr (`time level label: key=value [source] message`), with metadata formatted
/// when a line is written. swift-log's own `StreamLogHandler` formats its metadata every time a key is set, and every
/// request sets two (its trace id and Hummingbird's request id) whether or not anything is logged.
struct TextLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    private static let lock = Mutex<Void>(())

    init(label: String) { self.label = label }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = self.metadata.merging(event.metadata ?? [:]) { _, new in new }
        let pairs = merged.keys.sorted().map { "\($0)=\(merged[$0]!)" }.joined(separator: " ")
        let time = Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: false).timeZone(separator: .omitted))
        let line = "\(time) \(event.level) \(self.label):\(pairs.isEmpty ? "" : " " + pairs) [\(event.source)] \(event.message)\n"
        Self.lock.withLock { _ in FileHandle.standardError.write(Data(line.utf8)) }
    }
}

/// One JSON object per line on stderr: `time`, `level`, `label`, `message`, then the metadata as strings.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    private static let lock = Mutex<Void>(())

    init(label: String) { self.label = label }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields: [(String, String)] = [
            ("time", Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true))),
            ("level", event.level.rawValue), ("label", self.label), ("message", event.message.description),
        ]
        let merged = self.metadata.merging(event.metadata ?? [:]) { _, new in new }
        for key in merged.keys.sorted() where !["time", "level", "label", "message"].contains(key) {
            fields.append((key, "\(merged[key]!)"))
        }
        var line = "{"
        for (index, field) in fields.enumerated() {
            if index > 0 { line += "," }
            line += Self.quoted(field.0) + ":" + Self.quoted(field.1)
        }
        line += "}\n"
        Self.lock.withLock { _ in FileHandle.standardError.write(Data(line.utf8)) }
    }

    private static func quoted(_ text: String) -> String {
        var output = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case _ where scalar.value < 0x20: output += String(format: "\\u%04x", scalar.value)
            default: output.unicodeScalars.append(scalar)
            }
        }
        return output + "\""
    }
}
