public import Foundation

/// Reads a child process's output line by line, with a bounded wait for each line.
public final class LineReader: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    public init(_ handle: FileHandle) {
        Thread { [self] in
            var buffer = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { return }
                buffer.append(chunk)
                while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                    buffer.removeSubrange(buffer.startIndex...newline)
                    self.lock.withLock { self.lines.append(line) }
                }
            }
        }.start()
    }

    /// The next line, or nil when none comes within `timeout` seconds.
    public func next(timeout: Double) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let line = self.lock.withLock({ self.lines.isEmpty ? nil : self.lines.removeFirst() }) { return line }
            usleep(20_000)
        }
        return nil
    }
}
