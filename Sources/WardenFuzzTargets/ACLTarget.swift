import WardenACL
import WardenPolicy

/// ACL files: any text either loads or is refused with diagnostics that point into the file, and the
/// policies it loads decide a subject the same from its text and from its bytes.
enum ACLTarget {
    static let subjects = ["orders.created", "a", "a.b.c", "_INBOX.x.y", "$JS.API.INFO", "orders.*", ">"]

    static func run(_ input: UnsafeRawBufferPointer) {
        let text = String(decoding: input, as: UTF8.self)
        let lines = Self.lineCount(text)
        do throws(ACLLoadError) {
            let snapshot = try ACLLoader.load(sources: [("fuzz.yaml", text)])
            for policy in snapshot.services.values {
                for subject in Self.subjects {
                    let byText = policy.decidePublish(subject: subject)
                    let byBytes = Array(subject.utf8).withUnsafeBufferPointer { policy.decidePublish(subjectBytes: $0) }
                    invariant(byText == byBytes, "\(policy.name) decides \(subject) differently by text and bytes")
                    _ = policy.decideSubscribe(subject: subject)
                }
            }
        } catch {
            invariant(!error.diagnostics.isEmpty, "refused without a diagnostic")
            for diagnostic in error.diagnostics {
                invariant(
                    diagnostic.file == "fuzz.yaml" && (0...lines + 1).contains(diagnostic.line),
                    "\(diagnostic) points outside the file's \(lines) lines")
            }
        }
    }

    /// Lines as YAML counts them (what the diagnostics' line numbers count): CR LF, CR, LF, and in YAML
    /// 1.1 NEL, LS and PS each end one.
    static func lineCount(_ text: String) -> Int {
        var lines = 1
        var afterCR = false
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": if !afterCR { lines += 1 }
            case "\r", "\u{85}", "\u{2028}", "\u{2029}": lines += 1
            default: break
            }
            afterCR = scalar == "\r"
        }
        return lines
    }
}
