/// A bounded table ordered by recency of use, with O(1) lookup, touch, insert and eviction of the least recent entry.
///
/// Nodes live in one array linked by indices (no per-entry allocation); freed slots are reused.
struct LRUTable<Key: Hashable, Value> {
    private struct Node {
        var key: Key
        var value: Value?
        var lastUsed: ContinuousClock.Instant
        var newer: Int
        var older: Int
    }

    private static var none: Int { -1 }

    private var nodes: [Node] = []
    private var indexByKey: [Key: Int] = [:]
    private var freeSlots: [Int] = []
    private var newest = LRUTable.none
    private var oldest = LRUTable.none

    var count: Int { self.indexByKey.count }

    /// The value for `key`, marking it most recently used at `now`.
    mutating func touch(_ key: Key, now: ContinuousClock.Instant) -> Value? {
        guard let index = self.indexByKey[key] else { return nil }
        self.unlink(index)
        self.nodes[index].lastUsed = now
        self.linkAsNewest(index)
        return self.nodes[index].value
    }

    /// The value and when it was last used, without changing the order.
    func peek(_ key: Key) -> (value: Value, lastUsed: ContinuousClock.Instant)? {
        guard let index = self.indexByKey[key], let value = self.nodes[index].value else { return nil }
        return (value, self.nodes[index].lastUsed)
    }

    /// Inserts or replaces `key` as the most recent entry.
    mutating func insert(_ key: Key, _ value: Value, now: ContinuousClock.Instant) {
        if let index = self.indexByKey[key] {
            self.unlink(index)
            self.nodes[index].value = value
            self.nodes[index].lastUsed = now
            self.linkAsNewest(index)
            return
        }
        let node = Node(key: key, value: value, lastUsed: now, newer: Self.none, older: Self.none)
        let index: Int
        if let free = self.freeSlots.popLast() {
            self.nodes[free] = node
            index = free
        } else {
            self.nodes.append(node)
            index = self.nodes.count - 1
        }
        self.indexByKey[key] = index
        self.linkAsNewest(index)
    }

    @discardableResult
    mutating func remove(_ key: Key) -> Value? {
        guard let index = self.indexByKey.removeValue(forKey: key) else { return nil }
        self.unlink(index)
        let value = self.nodes[index].value
        // Drop the reference now, so a secret held by the value is released (and wiped) promptly.
        self.nodes[index].value = nil
        self.freeSlots.append(index)
        return value
    }

    /// The least recently used entry.
    var oldestEntry: (key: Key, lastUsed: ContinuousClock.Instant)? {
        guard self.oldest != Self.none else { return nil }
        return (self.nodes[self.oldest].key, self.nodes[self.oldest].lastUsed)
    }

    private mutating func unlink(_ index: Int) {
        let node = self.nodes[index]
        if node.newer != Self.none { self.nodes[node.newer].older = node.older } else { self.newest = node.older }
        if node.older != Self.none { self.nodes[node.older].newer = node.newer } else { self.oldest = node.newer }
        self.nodes[index].newer = Self.none
        self.nodes[index].older = Self.none
    }

    private mutating func linkAsNewest(_ index: Int) {
        self.nodes[index].older = self.newest
        self.nodes[index].newer = Self.none
        if self.newest != Self.none { self.nodes[self.newest].newer = index }
        self.newest = index
        if self.oldest == Self.none { self.oldest = index }
    }
}
