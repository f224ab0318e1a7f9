import NATSProtocol
import NIOCore
import WardenPolicy

/// The JSON text (quoted and escaped) of the rules records name. A loop's records name few rules,
/// most of them many times, so each is escaped once; the last one found is tried first.
struct RuleTexts {
    /// How many rules are remembered; past this, the oldest is replaced.
    static let capacity = 32

    private var rules: [String] = []
    private var texts: [[UInt8]] = []
    private var last = 0
    private var oldest = 0

    mutating func json(for rule: String) -> [UInt8] {
        if self.last < self.rules.count, self.rules[self.last] == rule { return self.texts[self.last] }
        if let index = self.rules.firstIndex(of: rule) {
            self.last = index
            return self.texts[index]
        }
        let text = [UInt8](unsafeUninitializedCapacity: RecordCursor.quotedBound(rule.utf8.count)) { buffer, count in
            var cursor = RecordCursor(UnsafeMutableRawBufferPointer(buffer))
            cursor.writeQuoted(rule)
            count = cursor.written
        }
        if self.rules.count < Self.capacity {
            self.rules.append(rule)
            self.texts.append(text)
            self.last = self.rules.count - 1
        } else {
            self.rules[self.oldest] = rule
            self.texts[self.oldest] = text
            self.last = self.oldest
            self.oldest = (self.oldest + 1) % Self.capacity
        }
        return text
    }
}
