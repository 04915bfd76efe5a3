import Prometheus

/// `/api/metrics`: the registry's exposition with a `# HELP` line for each family. The metrics are made through
/// swift-metrics, which has no help text, so it is added here from one catalog; promtool (in the interop tier) fails
/// on any family missing from it.
enum MetricsExposition {
    static let help: [String: String] = [
        "signer_http_requests_total": "HTTP requests answered, by route template, method and status.",
        "signer_http_request_duration_seconds": "Time to answer an HTTP request, by route template.",
        "signer_signing_queue_depth": "Requests (HTTP and NIP-46) waiting for a signing worker, at scrape time.",
        "signer_nip46_events_received_total": "Kind-24133 events received from the relays.",
        "signer_nip46_events_dropped_total": "Incoming NIP-46 events not handled, by reason.",
        "signer_nip46_requests_total": "NIP-46 requests answered, by method and outcome.",
        "signer_nip46_processing_seconds": "Time from a worker taking a NIP-46 request to its reply being handed to the relays.",
        "signer_nip46_queue_wait_seconds": "Time a NIP-46 request waited for a signing worker.",
        "signer_nip46_queue_depth": "Requests waiting for a signing worker, as last seen by the NIP-46 service.",
        "signer_nip46_replies_unpublished_total": "NIP-46 replies no relay accepted.",
        "signer_nip46_rejected_not_owner_total": "NIP-46 requests for bunkers another cluster member owns (kept briefly in case it leaves).",
        "signer_cluster_members": "Members in this instance's view of the cluster ring, itself included once joined.",
        "signer_cluster_owned_share": "Fraction of the bunker key space this instance owns (0 to 1).",
        "signer_cluster_ring_rebuilds_total": "Times the ring was rebuilt because the member set changed.",
        "signer_cluster_heartbeat_failures_total": "Cluster heartbeats Redis did not answer (or refused).",
        "signer_cluster_claim_failures_total": "NIP-46 request claims Redis could not answer (the request was answered anyway).",
        "signer_redis_command_duration_seconds": "Redis round-trip time of a command's pipeline, by command.",
        "signer_relay_state": "Relay connection state (1 for the current state), by relay and state.",
        "signer_relay_events_received_total": "Events received, by relay.",
        "signer_relay_events_published_total": "Events a relay accepted, by relay.",
        "signer_relay_reconnects_total": "Reconnections, by relay.",
        "signer_relay_publish_timeouts_total": "Publishes a relay did not acknowledge in time, by relay.",
        "signer_relay_malformed_messages_total": "Relay messages that did not parse, by relay.",
        "signer_relay_ok_rejections_total": "Events a relay refused, by relay and OK reason prefix.",
        "signer_key_cache_entries": "Decrypted keys held in memory.",
        "signer_key_cache_hits_total": "Key unlocks served from memory.",
        "signer_key_cache_misses_total": "Key unlocks that read the store and the KEK.",
        "signer_key_cache_negative_hits_total": "Lookups of unknown tokens or bunkers answered from memory.",
        "signer_key_cache_evictions_total": "Decrypted keys dropped from memory, by reason.",
        "signer_audit_buffered": "Audit records waiting to be written.",
        "signer_audit_records_written_total": "Audit records written to the store.",
        "signer_audit_write_failures_total": "Audit batch writes that failed (the batch stays buffered).",
        "signer_audit_dropped_total": "Audit records dropped because the buffer was full.",
        "signer_kms_requests_total": "AWS KMS calls, by operation and outcome.",
        "signer_kms_request_duration_seconds": "AWS KMS call latency, by operation.",
        "signer_kms_circuit_open": "1 while the AWS KMS circuit breaker is open.",
    ]

    /// The exposition text with `# HELP` before each family's `# TYPE` line.
    static func render(_ registry: PrometheusCollectorRegistry) -> [UInt8] {
        var raw: [UInt8] = []
        registry.emit(into: &raw)
        var output: [UInt8] = []
        output.reserveCapacity(raw.count + 4096)
        let typePrefix = Array("# TYPE ".utf8)
        for line in raw.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            if line.starts(with: typePrefix) {
                let name = String(decoding: line.dropFirst(typePrefix.count).prefix(while: { $0 != UInt8(ascii: " ") }), as: UTF8.self)
                if let text = Self.help[name] { output.append(contentsOf: Array("# HELP \(name) \(text)\n".utf8)) }
            }
            output.append(contentsOf: line)
            output.append(UInt8(ascii: "\n"))
        }
        // `split` kept the empty piece after the final newline; do not double it.
        if raw.last == UInt8(ascii: "\n") { output.removeLast() }
        return output
    }
}
