/// Service names become a subject token (`{{service}}`) and part of a certificate's URI SAN, so they
/// are limited to letters, digits, `-` and `_`, at most 64 characters.
public enum ServiceName {
    public static let maxLength = 64

    public static func validate(_ name: String) throws(PolicyError) {
        guard !name.isEmpty else {
            throw PolicyError(.invalidServiceName, "service name cannot be empty")
        }
        guard name.utf8.count <= Self.maxLength else {
            throw PolicyError(
                .invalidServiceName, "service name \"\(name)\" is longer than \(Self.maxLength) characters")
        }
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-")
                || byte == UInt8(ascii: "_")
        }
        guard allowed else {
            throw PolicyError(
                .invalidServiceName, "invalid service name \"\(name)\": use only letters, digits, '-' and '_'")
        }
    }
}
