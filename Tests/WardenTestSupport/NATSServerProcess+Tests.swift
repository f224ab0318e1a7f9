public import WardenDevelopment

extension NATSServerProcess {
    /// A real nats-server for a test, its configuration and log in the test's temporary folder. Tests
    /// never mock NATS.
    public convenience init(config: String, port: Int, directory: TemporaryDirectory) throws {
        try self.init(configuration: config, port: port, folder: directory.path)
    }
}
