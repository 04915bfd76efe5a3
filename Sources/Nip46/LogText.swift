/// Text from the network made safe to log: bounded, cut on a character boundary, control characters replaced.
public enum LogText {
    public static func truncated(_ text: some StringProtocol, maximumCharacters: Int = 120) -> String {
        var result = ""
        var count = 0
        for character in text {
            if count == maximumCharacters {
                result += "…"
                break
            }
            result.append(character.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F } ? character : "?")
            count += 1
        }
        return result
    }
}
