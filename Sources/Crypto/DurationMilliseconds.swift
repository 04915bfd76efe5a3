extension Duration {
    /// Whole milliseconds, truncated: for log fields, error texts and Redis arguments. (Not cryptography; it lives in
    /// this target because every other target depends on it.)
    public var milliseconds: Int64 { self.components.seconds * 1000 + self.components.attoseconds / 1_000_000_000_000_000 }
}
