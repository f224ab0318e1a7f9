import Glibc

/// A decision log's whole lines, read in chunks: from the start, then whatever was appended since.
///
/// A class: it owns an open file, closed when the last reference goes, and a 1 MiB read buffer that
/// a copy of a struct would duplicate at its next read.
public final class LogLines {
    public enum Change {
        case none
        /// The file is shorter than what was read of it (a copy-and-truncate rotation).
        case truncated
        /// The path names another file now (the log was moved away, and Warden writes a new one).
        case replaced
    }

    /// Longer lines are no decision records (those are a few KiB at most): skipped, and counted.
    public static let maxLine = 1 << 20

    private let descriptor: Int32
    private var chunk = [UInt8](repeating: 0, count: 1 << 20)
    /// Bytes read after the last whole line.
    private var partial: [UInt8] = []
    /// Whether the bytes up to the next newline are skipped, as part of a line over `maxLine`.
    private var skipping = false
    /// Lines skipped for being over `maxLine`.
    public private(set) var overlong = 0
    /// Bytes read from the file so far.
    private var offset = 0
    /// Where in the file `partial` begins.
    private var partialOffset = 0

    /// The file at `path`, read from `start` (a line's beginning); nil when it cannot be opened.
    public init?(path: String, from start: Int = 0) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        self.descriptor = descriptor
        if start > 0 {
            guard lseek(descriptor, off_t(start), SEEK_SET) == off_t(start) else {
                close(descriptor)
                return nil
            }
            self.offset = start
            self.partialOffset = start
        }
    }

    /// The file's inode and device, which tell one log file from the next after a rotation.
    public var identity: (inode: UInt64, device: UInt64) {
        var info = stat()
        guard fstat(self.descriptor, &info) == 0 else { return (0, 0) }
        return (UInt64(info.st_ino), UInt64(info.st_dev))
    }

    /// Reads to the end of the file as it is now, calling `body` with each whole line (without its
    /// newline) as it goes.
    public func read(_ body: (UnsafeRawBufferPointer) -> Void) {
        self.read { line, _ in body(line) }
    }

    /// `read`, with where each line ends in the file (the offset after its newline).
    public func read(_ body: (_ line: UnsafeRawBufferPointer, _ end: Int) -> Void) {
        _ = self.read(upTo: .max) { line, end in
            body(line, end)
            return true
        }
    }

    /// Reads lines until `body` returns false, `limit` lines were given, or the end of the file as it is
    /// now; the next read goes on from there. Returns how many lines `body` was given.
    public func read(upTo limit: Int, _ body: (_ line: UnsafeRawBufferPointer, _ end: Int) -> Bool) -> Int {
        var given = 0
        while true {
            // The whole lines already read first, then more of the file.
            var stopped = false
            let consumed = self.partial.withUnsafeBytes { bytes -> Int in
                var start = 0
                while given < limit, start < bytes.count,
                    let newline = memchr(bytes.baseAddress! + start, 0x0A, bytes.count - start)
                {
                    let end = bytes.baseAddress!.distance(to: UnsafeRawPointer(newline))
                    if self.skipping {
                        self.skipping = false
                    } else {
                        given += 1
                        if !body(UnsafeRawBufferPointer(rebasing: bytes[start..<end]), self.partialOffset + end + 1) {
                            stopped = true
                            return end + 1
                        }
                    }
                    start = end + 1
                }
                return start
            }
            self.partial.removeFirst(consumed)
            self.partialOffset += consumed
            if stopped || given >= limit { return given }
            if self.partial.count > Self.maxLine || (self.skipping && !self.partial.isEmpty) {
                if !self.skipping { self.overlong += 1 }
                self.skipping = true
                self.partialOffset += self.partial.count
                self.partial.removeAll(keepingCapacity: true)
            }
            let count = self.chunk.withUnsafeMutableBytes { Glibc.read(self.descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return given }
            self.offset += count
            self.partial.append(contentsOf: self.chunk[0..<count])
        }
    }

    /// What happened to the file at `path` since it was opened.
    public func change(path: String) -> Change {
        var open = stat()
        var named = stat()
        guard fstat(self.descriptor, &open) == 0 else { return .none }
        if stat(path, &named) == 0 && (named.st_ino != open.st_ino || named.st_dev != open.st_dev) { return .replaced }
        return Int(open.st_size) < self.offset ? .truncated : .none
    }

    /// Starts again from the beginning of the file.
    public func rewind() {
        self.seek(to: 0)
    }

    /// Goes on from `offset` (a line's beginning) of the same file.
    public func seek(to offset: Int) {
        lseek(self.descriptor, off_t(offset), SEEK_SET)
        self.offset = offset
        self.partialOffset = offset
        self.partial.removeAll()
        self.skipping = false
    }

    deinit {
        close(self.descriptor)
    }
}
