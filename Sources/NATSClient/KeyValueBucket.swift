import CNATS
import Foundation

/// A JetStream KeyValue bucket on a `NATSClient`'s connection, through nats.c's KeyValue API: what
/// Warden's fleet state is kept in (`warden fleet push`, `warden serve --fleet`).
///
/// Sendable because nats.c's KeyValue objects are safe to use from several threads.
public final class KeyValueBucket: @unchecked Sendable {
    /// One value of a key, as the bucket holds it.
    public struct Entry: Sendable, Hashable {
        public let key: String
        public let value: [UInt8]
        /// The bucket's revision of this value: its stream sequence.
        public let revision: UInt64
        /// A deletion or purge marker, with no value.
        public let isDeletion: Bool
    }

    public let name: String
    /// Keeps the connection (and nats.c's JetStream context's use of it) alive as long as the bucket.
    private let client: NATSClient
    private let context: OpaquePointer
    private let store: OpaquePointer

    /// Binds to bucket `name`; when it does not exist and `createWith` is given, creates it with
    /// `createWith` replicas (`NATSClient.clusterReplicas`). A cluster that cannot place them yet (its
    /// JetStream still forming) is asked again for up to 10 s; a server that is not clustered gets one.
    public init(
        _ client: NATSClient, name: String, history: UInt8 = 64, createWith replicas: Int? = nil,
        timeoutMilliseconds: Int64 = 5000
    ) throws(NATSClient.Failure) {
        var options = jsOptions()
        try NATSClient.check(jsOptions_Init(&options))
        options.Wait = timeoutMilliseconds
        var context: OpaquePointer?
        try NATSClient.check(natsConnection_JetStream(&context, client.connection, &options))
        guard let context else {
            throw NATSClient.Failure(code: .other, status: "natsConnection_JetStream returned nothing", detail: nil)
        }
        var store: OpaquePointer?
        var status = js_KeyValue(&store, context, name)
        if status == NATS_NOT_FOUND, var count = replicas {
            let deadline = Date().addingTimeInterval(10)
            while true {
                var configuration = kvConfig()
                _ = kvConfig_Init(&configuration)
                configuration.History = history
                configuration.Replicas = Int32(count)
                configuration.StorageType = js_FileStorage
                status = name.withCString { bucket in
                    configuration.Bucket = bucket
                    return js_CreateKeyValue(&store, context, &configuration)
                }
                if status == NATS_OK { break }
                let detail = NATSClient.threadError() ?? ""
                if detail.contains("non-clustered"), count > 1 {
                    count = 1
                } else if Date() < deadline, detail.contains("peers") || detail.contains("resources") {
                    usleep(250_000)
                } else {
                    break
                }
            }
        }
        guard status == NATS_OK, let store else {
            let detail = NATSClient.threadError()
            jsCtx_Destroy(context)
            throw NATSClient.Failure(status, detail: detail)
        }
        self.name = name
        self.client = client
        self.context = context
        self.store = store
    }

    deinit {
        kvStore_Destroy(self.store)
        jsCtx_Destroy(self.context)
    }

    /// The key's current value; nil when it has none (never written, or deleted).
    public func get(_ key: String) throws(NATSClient.Failure) -> Entry? {
        var entry: OpaquePointer?
        let status = kvStore_Get(&entry, self.store, key)
        if status == NATS_NOT_FOUND { return nil }
        try NATSClient.check(status)
        guard let entry else { return nil }
        defer { kvEntry_Destroy(entry) }
        return Entry(entry)
    }

    /// Every value of the key the bucket still holds (up to its history), oldest first.
    public func history(_ key: String) throws(NATSClient.Failure) -> [Entry] {
        var list = kvEntryList()
        let status = kvStore_History(&list, self.store, key, nil)
        if status == NATS_NOT_FOUND { return [] }
        try NATSClient.check(status)
        defer { kvEntryList_Destroy(&list) }
        return (0..<Int(list.Count)).compactMap { list.Entries[$0].map(Entry.init) }
    }

    /// Writes `value` as the key's next value, if the key's current revision is `revision` (0: if the key
    /// has no value yet). Returns the new revision; throws `.conflict` when another value came first.
    public func update(_ key: String, _ value: [UInt8], replacing revision: UInt64) throws(NATSClient.Failure)
        -> UInt64
    {
        var written: UInt64 = 0
        let status = value.withUnsafeBytes { bytes in
            revision == 0
                ? kvStore_Create(&written, self.store, key, bytes.baseAddress, Int32(bytes.count))
                : kvStore_Update(&written, self.store, key, bytes.baseAddress, Int32(bytes.count), revision)
        }
        guard status == NATS_OK else {
            let detail = NATSClient.threadError()
            // nats-server's words for a lost race: "wrong last sequence", or "key exists" for a create.
            if let detail, detail.contains("wrong last sequence") || detail.contains("key exists") {
                throw NATSClient.Failure(code: .conflict, status: "the key changed meanwhile", detail: detail)
            }
            throw NATSClient.Failure(status, detail: detail)
        }
        return written
    }

    /// Writes `value` as the key's next value, whatever is there.
    @discardableResult
    public func put(_ key: String, _ value: [UInt8]) throws(NATSClient.Failure) -> UInt64 {
        var written: UInt64 = 0
        try NATSClient.check(
            value.withUnsafeBytes { kvStore_Put(&written, self.store, key, $0.baseAddress, Int32($0.count)) })
        return written
    }

    /// Watches `key`: its current value first, then every new one.
    public func watch(_ key: String) throws(NATSClient.Failure) -> Watcher {
        var watcher: OpaquePointer?
        try NATSClient.check(kvStore_Watch(&watcher, self.store, key, nil))
        guard let watcher else {
            throw NATSClient.Failure(code: .other, status: "kvStore_Watch returned nothing", detail: nil)
        }
        return Watcher(watcher, bucket: self)
    }

    /// A key's values as they come, on nats.c's ordered consumer.
    public final class Watcher: @unchecked Sendable {
        private let watcher: OpaquePointer
        private let bucket: KeyValueBucket

        init(_ watcher: OpaquePointer, bucket: KeyValueBucket) {
            self.watcher = watcher
            self.bucket = bucket
        }

        deinit {
            kvWatcher_Stop(self.watcher)
            kvWatcher_Destroy(self.watcher)
        }

        /// The next value, waiting up to `timeoutMilliseconds`. `.timeout` when none came; `.caughtUp`
        /// once, when the values the key had when the watch began have all been given.
        public func next(timeoutMilliseconds: Int64) throws(NATSClient.Failure) -> Update {
            var entry: OpaquePointer?
            let status = kvWatcher_Next(&entry, self.watcher, timeoutMilliseconds)
            if status == NATS_TIMEOUT { return .timeout }
            try NATSClient.check(status)
            guard let entry else { return .caughtUp }
            defer { kvEntry_Destroy(entry) }
            return .entry(Entry(entry))
        }
    }

    public enum Update: Sendable, Hashable {
        case entry(Entry)
        case caughtUp
        case timeout
    }
}

extension KeyValueBucket.Entry {
    init(_ entry: OpaquePointer) {
        self.key = String(cString: kvEntry_Key(entry))
        let length = Int(kvEntry_ValueLen(entry))
        if length > 0, let bytes = kvEntry_Value(entry) {
            self.value = Array(UnsafeRawBufferPointer(start: bytes, count: length))
        } else {
            self.value = []
        }
        self.revision = kvEntry_Revision(entry)
        let operation = kvEntry_Operation(entry)
        self.isDeletion = operation == kvOp_Delete || operation == kvOp_Purge
    }
}
