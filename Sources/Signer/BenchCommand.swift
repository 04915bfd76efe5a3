import ArgumentParser
import Foundation
import NostrCrypto

/// `signer bench …`: measurements for `docs/performance.md`. Figures only; nothing here asserts a speed.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Micro-benchmarks (build with -c release for meaningful figures).",
        subcommands: [Crypto.self, CustodyBench.self, Nip46Bench.self]
    )

    struct Crypto: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "ns/op and ops/s of the crypto primitives, next to plain C over libsecp256k1."
        )

        @Option(help: "Iterations per operation.")
        var iterations = 20_000

        @Option(help: "Source of the plain-C baseline; compiled with cc -O2. Pass an empty string to skip it.")
        var cSource = "tools/bench/secp256k1_bench.c"

        @Flag(help: "Print JSON instead of a table.")
        var json = false

        func validate() throws {
            guard self.iterations > 0 else { throw ValidationError("--iterations must be positive") }
        }

        func run() throws {
            let results = try CryptoBenchmark(iterations: self.iterations).run()
            let baseline = self.cSource.isEmpty ? [:] : CBaseline.run(source: self.cSource, iterations: self.iterations)
            self.report(results, baseline: baseline)
        }

        private func report(_ results: [(name: String, nanoseconds: Double)], baseline: [String: Double]) {
            if self.json {
                var rows: [JSONValue] = []
                for result in results {
                    var row: [String: JSONValue] = [
                        "operation": .string(result.name),
                        "ns_per_op": .number(String(format: "%.1f", result.nanoseconds)),
                        "ops_per_s": .number(String(format: "%.0f", 1e9 / result.nanoseconds)),
                    ]
                    if let c = baseline[result.name] {
                        row["c_ns_per_op"] = .number(String(format: "%.1f", c))
                        row["swift_over_c"] = .number(String(format: "%.3f", result.nanoseconds / c))
                    }
                    rows.append(.object(row))
                }
                CommandLineIO.writeLine(JSONValue.object(["iterations": .number(String(self.iterations)), "results": .array(rows)]).serialized())
                return
            }
            CommandLineIO.writeLine(
                "operation".padding(toLength: 26, withPad: " ", startingAt: 0) + "      ns/op        ops/s     C ns/op   Swift/C"
            )
            for result in results {
                var line = result.name.padding(toLength: 26, withPad: " ", startingAt: 0)
                line += String(format: " %10.1f %12.0f", result.nanoseconds, 1e9 / result.nanoseconds)
                if let c = baseline[result.name] {
                    line += String(format: " %11.1f %9.3f", c, result.nanoseconds / c)
                }
                CommandLineIO.writeLine(line)
            }
            if !self.cSource.isEmpty && baseline.isEmpty {
                CommandLineIO.writeLine("(C baseline unavailable: could not build or run \(self.cSource))")
            }
        }
    }
}

/// The Swift side of the crypto benchmark: the same operations the signer performs per request.
struct CryptoBenchmark {
    let iterations: Int

    func run() throws -> [(name: String, nanoseconds: Double)] {
        let key = try SecretKey(bytes: (1...32).map { UInt8($0) })
        let peerKey = try SecretKey(bytes: (1...32).map { UInt8(200 - $0) })
        var message = (0..<32).map { UInt8($0 * 3) }
        let signature = try Schnorr.sign(message: message, with: key)
        // About 200 bytes serialized: a short note with one tag.
        let event = UnsignedEvent(
            createdAt: 1_700_000_000,
            kind: 1,
            tags: [["t", "nostr"]],
            content: String(repeating: "x", count: 40)
        )
        let plaintext = String(repeating: "a", count: 200)
        let conversationKey = try NIP44ConversationKey(secretKey: key, publicKey: peerKey.publicKey)
        let payload = try NIP44.encrypt(plaintext, conversationKey: conversationKey)
        var sink = 0
        var results: [(String, Double)] = []

        results.append(
            ("schnorr_sign", try self.measure { index in
                message[0] = UInt8(truncatingIfNeeded: index)
                sink &+= Int(try Schnorr.sign(message: message, with: key)[0])
            })
        )
        message[0] = 0
        let signedMessage = (0..<32).map { UInt8($0 * 3) }
        results.append(
            ("schnorr_verify", try self.measure { _ in
                sink &+= Schnorr.verify(signature: signature, message: signedMessage, publicKey: key.publicKey) ? 1 : 0
            })
        )
        results.append(
            ("ecdh", try self.measure { _ in
                sink &+= try ECDH.sharedX(secretKey: key, publicKey: peerKey.publicKey).count
            })
        )
        results.append(
            ("event_id_200_bytes", try self.measure { _ in
                sink &+= Int(event.id(pubkey: key.publicKey).bytes[0])
            })
        )
        results.append(
            ("nip44_encrypt_200_bytes", try self.measure { _ in
                sink &+= try NIP44.encrypt(plaintext, conversationKey: conversationKey).utf8.count
            })
        )
        results.append(
            ("nip44_decrypt_200_bytes", try self.measure { _ in
                sink &+= try NIP44.decrypt(payload, conversationKey: conversationKey).utf8.count
            })
        )
        // Keep the results observable so the optimiser cannot drop the loops.
        if sink == Int.min { print(sink) }
        return results
    }

    private func measure(_ body: (Int) throws -> Void) throws -> Double {
        let warmup = max(self.iterations / 10, 1)
        for index in 0..<warmup { try body(index) }
        let clock = ContinuousClock()
        let start = clock.now
        for index in 0..<self.iterations { try body(index) }
        let elapsed = clock.now - start
        let nanoseconds = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
        return nanoseconds / Double(self.iterations)
    }
}

/// Builds and runs `tools/bench/secp256k1_bench.c`, returning ns/op keyed like the Swift results.
enum CBaseline {
    static func run(source: String, iterations: Int) -> [String: Double] {
        let binary = FileManager.default.temporaryDirectory.appendingPathComponent("signer-secp256k1-bench-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: binary) }
        guard Self.execute("/usr/bin/env", ["cc", "-O2", "-o", binary, source, "-lsecp256k1"]) != nil,
            let output = Self.execute(binary, [String(iterations)])
        else {
            return [:]
        }
        var results: [String: Double] = [:]
        let names = ["sign": "schnorr_sign", "verify": "schnorr_verify", "ecdh": "ecdh"]
        for line in output.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2, let name = names[String(fields[0])], let value = Double(fields[1]) {
                results[name] = value
            }
        }
        return results
    }

    private static func execute(_ path: String, _ arguments: [String]) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return nil
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}
