import CNATS
import Foundation

extension NATSClient.Message {
    init(_ message: OpaquePointer) {
        self.subject = String(cString: natsMsg_GetSubject(message))
        self.reply = natsMsg_GetReply(message).map { String(cString: $0) }
        let length = Int(natsMsg_GetDataLength(message))
        if length > 0, let data = natsMsg_GetData(message) {
            self.payload = Array(UnsafeRawBufferPointer(start: data, count: length))
        } else {
            self.payload = []
        }
        var keys: UnsafeMutablePointer<UnsafePointer<CChar>?>?
        var count: Int32 = 0
        var headers: [String: String] = [:]
        if natsMsgHeader_Keys(message, &keys, &count) == NATS_OK, let keys {
            for index in 0..<Int(count) {
                guard let key = keys[index] else { continue }
                var value: UnsafePointer<CChar>?
                if natsMsgHeader_Get(message, key, &value) == NATS_OK, let value {
                    headers[String(cString: key)] = String(cString: value)
                }
            }
            free(keys)
        }
        self.headers = headers
    }
}
