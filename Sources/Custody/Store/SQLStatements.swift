/// Splits a migration file into statements, because drivers prepare one statement at a time. Semicolons inside
/// quoted strings, quoted identifiers and comments do not split; comments are dropped.
enum SQLStatements {
    static func split(_ sql: String) -> [String] {
        var statements: [String] = []
        var current: [Character] = []
        var characters = Array(sql)[...]
        while let character = characters.popFirst() {
            switch character {
            case "'", "\"":
                current.append(character)
                while let next = characters.popFirst() {
                    current.append(next)
                    if next == character { break }
                }
            case "-" where characters.first == "-":
                while let next = characters.popFirst(), next != "\n" {}
                current.append("\n")
            case "/" where characters.first == "*":
                characters.removeFirst()
                while let next = characters.popFirst() {
                    if next == "*", characters.first == "/" {
                        characters.removeFirst()
                        break
                    }
                }
                current.append(" ")
            case ";":
                Self.append(current, to: &statements)
                current = []
            default:
                current.append(character)
            }
        }
        Self.append(current, to: &statements)
        return statements
    }

    private static func append(_ characters: [Character], to statements: inout [String]) {
        let statement = String(characters).trimmingWhitespace()
        if !statement.isEmpty { statements.append(statement) }
    }
}

extension String {
    func trimmingWhitespace() -> String {
        let scalars = self.unicodeScalars
        guard let start = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let end = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[start...end])
    }
}

extension Array {
    /// Consecutive slices of at most `size` elements (the last may be shorter), for multi-row statements.
    func chunks(of size: Int) -> [ArraySlice<Element>] {
        precondition(size > 0, "a chunk holds at least one element")
        return stride(from: 0, to: self.count, by: size).map { self[$0..<Swift.min($0 + size, self.count)] }
    }
}
