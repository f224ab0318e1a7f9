#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// RFC 3339 timestamps in UTC with microseconds (`2026-11-22T10:15:30.123456Z`), written straight into
/// a byte buffer: the decision log writes one per record, so this avoids Foundation's date formatters.
package enum RFC3339 {
    /// The length of every timestamp written (years 0000 to 9999): `2026-11-22T10:15:30.123456Z`.
    static let width = 27

    /// Microseconds since the Unix epoch, from the real-time clock.
    package static func nowMicroseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1000
    }

    /// Whole seconds (rounded down, also before 1970) and the microseconds past them.
    static func split(_ microseconds: Int64) -> (seconds: Int64, micros: Int) {
        let seconds = microseconds >= 0 ? microseconds / 1_000_000 : (microseconds - 999_999) / 1_000_000
        return (seconds, Int(microseconds - seconds * 1_000_000))
    }

    /// `YYYY-MM-DDTHH:MM:SS` for `seconds` since the epoch.
    static func writeDateTime(seconds: Int64, to cursor: inout RecordCursor) {
        var days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let secondOfDay = UInt64(seconds - days * 86400)
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let dayOfEra = days - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = UInt64(dayOfYear - (153 * monthIndex + 2) / 5 + 1)
        let month = UInt64(monthIndex < 10 ? monthIndex + 3 : monthIndex - 9)
        let year = UInt64(yearOfEra + era * 400 + (month <= 2 ? 1 : 0))

        cursor.writeDigits(year, count: 4)
        cursor.write(byte: UInt8(ascii: "-"))
        cursor.writeDigits(month, count: 2)
        cursor.write(byte: UInt8(ascii: "-"))
        cursor.writeDigits(day, count: 2)
        cursor.write(byte: UInt8(ascii: "T"))
        cursor.writeDigits(secondOfDay / 3600, count: 2)
        cursor.write(byte: UInt8(ascii: ":"))
        cursor.writeDigits(secondOfDay / 60 % 60, count: 2)
        cursor.write(byte: UInt8(ascii: ":"))
        cursor.writeDigits(secondOfDay % 60, count: 2)
    }

    /// The timestamp for `microseconds` since the epoch, as text: for the few lines Warden writes outside
    /// a record batch.
    package static func string(microseconds: Int64) -> String {
        var cache = SecondCache()
        return String(unsafeUninitializedCapacity: 27) { buffer in
            var cursor = RecordCursor(UnsafeMutableRawBufferPointer(buffer))
            cache.write(microseconds: microseconds, to: &cursor)
            return cursor.written
        }
    }

    /// Remembers the date and time of day of the last second it formatted: records come many to a
    /// second, and only their fraction differs.
    struct SecondCache {
        private var second = Int64.min
        /// `YYYY-MM-DDTHH:MM:SS` (19 bytes), inline: copying the cache copies no array.
        private var text: (UInt64, UInt64, UInt64) = (0, 0, 0)
        private static let textCount = 19

        /// Writes the timestamp for `microseconds` since the epoch.
        mutating func write(microseconds: Int64, to cursor: inout RecordCursor) {
            let (seconds, micros) = RFC3339.split(microseconds)
            if seconds != self.second {
                withUnsafeMutableBytes(of: &self.text) { text in
                    var inline = RecordCursor(text)
                    RFC3339.writeDateTime(seconds: seconds, to: &inline)
                }
                self.second = seconds
            }
            withUnsafeBytes(of: self.text) { cursor.write(UnsafeRawBufferPointer(rebasing: $0[..<Self.textCount])) }
            cursor.write(byte: UInt8(ascii: "."))
            cursor.writeDigits(UInt64(micros), count: 6)
            cursor.write(byte: UInt8(ascii: "Z"))
        }
    }
}
