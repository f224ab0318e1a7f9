import NATSProtocol
import NIOCore
import WardenPolicy

/// What every record of one connection repeats, encoded once: `,"service":...,"conn":...,"peer":...`.
package struct ConnectionFields {
    package let service: String?
    package let conn: UInt64
    package let peer: String
    package let json: [UInt8]

    package init(service: String?, conn: UInt64, peer: String) {
        self.service = service
        self.conn = conn
        self.peer = peer
        let bound =
            32 + RecordCursor.quotedBound(service?.utf8.count ?? 4) + 20 + RecordCursor.quotedBound(peer.utf8.count)
        self.json = [UInt8](unsafeUninitializedCapacity: bound) { buffer, count in
            var cursor = RecordCursor(UnsafeMutableRawBufferPointer(buffer))
            cursor.write(#","service":"#)
            if let service { cursor.writeQuoted(service) } else { cursor.write("null") }
            cursor.write(#","conn":"#)
            cursor.writeInteger(conn)
            cursor.write(#","peer":"#)
            cursor.writeQuoted(peer)
            count = cursor.written
        }
    }

    package func describe(_ record: DecisionRecord) -> Bool {
        record.conn == self.conn && record.service == self.service && record.peer == self.peer
    }
}
