import ArgumentParser
import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// `signer probe`: asks a running server's `/health` (or another probe) and exits 0 only on 200. The container's
/// HEALTHCHECK uses it, so the runtime image needs no curl.
struct ProbeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Exit 0 if the server's probe answers 200 (for container health checks)."
    )

    @Option(help: "The probe's URL.") var url = "http://127.0.0.1:8080/health"
    @Option(help: "Seconds to wait for the answer.") var timeout: Int64 = 3

    func run() async throws {
        guard self.url.hasPrefix("http://") || self.url.hasPrefix("https://") else { throw CommandLineError("--url must be an http:// or https:// URL") }
        let status: UInt
        do {
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: self.url), timeout: .seconds(self.timeout))
            status = response.status.code
        } catch {
            throw CommandLineError("\(self.url) did not answer: \(AdminClient.describe(error))")
        }
        guard status == 200 else { throw CommandLineError("\(self.url) answered \(status)") }
        CommandLineIO.writeLine("ok")
    }
}
