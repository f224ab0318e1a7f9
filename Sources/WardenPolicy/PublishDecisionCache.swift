/// A small per-connection memo of publish decisions by subject, in front of the trie walk.
///
/// Services publish to few distinct subjects, so most look-ups hit. It is a 4-way set-associative table
/// keyed by a hash of the subject's bytes: a hit costs one hash and a byte comparison, a full set
/// replaces its entries in turn, and memory stays fixed at `capacity` entries. The table is allocated
/// on the first publish, so a connection that never publishes (most idle ones) pays nothing for it.
public struct PublishDecisionCache: Sendable {
    private struct Entry: Sendable {
        var fingerprint: UInt64
        var subject: [UInt8]
        var decision: PolicyDecision
    }

    private static let ways = 4
    /// Empty until the first decision is remembered, then `capacity` long.
    private var slots: [Entry?] = []
    public let capacity: Int
    private let setMask: Int
    /// Per set, the way to replace next when the set is full.
    private var victims: [UInt8]
    /// The number of subjects currently remembered.
    public private(set) var count = 0

    /// - Parameter capacity: rounded up to a power of two, at least 4.
    public init(capacity: Int = 128) {
        var size = Self.ways
        while size < capacity { size <<= 1 }
        self.capacity = size
        self.setMask = size / Self.ways - 1
        self.victims = []
    }

    /// The rule decision for publishing to `subject` under `policy`.
    public mutating func decision(for subject: String, in policy: ServicePolicy) -> PolicyDecision {
        SubjectBytes.withBytes(subject) { self.decision(forSubjectBytes: $0, in: policy) }
    }

    /// The rule decision for publishing to the subject in `subject` (UTF-8 bytes) under `policy`.
    public mutating func decision(forSubjectBytes subject: UnsafeBufferPointer<UInt8>, in policy: ServicePolicy)
        -> PolicyDecision
    {
        let fingerprint = SubjectBytes.fingerprint(subject)
        // Mixed once more so that the set depends on every bit of the fingerprint.
        let set = Int(truncatingIfNeeded: (fingerprint &* 0x9E37_79B9_7F4A_7C15) >> 40) & self.setMask
        let first = set * Self.ways
        if let decision = self.hit(first, fingerprint, subject) { return decision }
        let decision = policy.decidePublish(subjectBytes: subject)
        if self.slots.isEmpty {
            self.slots = Array(repeating: nil, count: self.capacity)
            self.victims = Array(repeating: 0, count: self.capacity / Self.ways)
        }
        if let empty = (first..<first + Self.ways).first(where: { self.slots[$0] == nil }) {
            self.slots[empty] = Entry(fingerprint: fingerprint, subject: Array(subject), decision: decision)
            self.count += 1
        } else {
            // The entry replaced keeps its storage for the new subject's bytes: a connection that
            // publishes to ever new subjects (responses to inboxes, per-entity subjects) does not
            // allocate once its sets are full.
            let slot = first + Int(self.victims[set])
            self.slots[slot]!.fingerprint = fingerprint
            self.slots[slot]!.decision = decision
            self.slots[slot]!.subject.removeAll(keepingCapacity: true)
            self.slots[slot]!.subject.append(contentsOf: subject)
            self.victims[set] = (self.victims[set] + 1) % UInt8(Self.ways)
        }
        return decision
    }

    @inline(__always)
    private func hit(_ first: Int, _ fingerprint: UInt64, _ subject: UnsafeBufferPointer<UInt8>) -> PolicyDecision? {
        guard !self.slots.isEmpty else { return nil }
        return self.slots.withUnsafeBufferPointer { slots in
            for slot in first..<first + Self.ways {
                if let entry = slots[slot], entry.fingerprint == fingerprint,
                    entry.subject.withUnsafeBufferPointer({ SubjectBytes.equal($0, subject) })
                {
                    return entry.decision
                }
            }
            return nil
        }
    }

    /// Forgets everything, e.g. after the policy was reloaded.
    public mutating func removeAll() {
        for index in self.slots.indices { self.slots[index] = nil }
        for index in self.victims.indices { self.victims[index] = 0 }
        self.count = 0
    }
}
