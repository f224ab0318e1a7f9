package import NIOPosix

extension ThreadSpecificVariable {
    /// The calling thread's value, made and kept on its first use.
    package func currentValue(orMake make: () -> Value) -> Value {
        if let value = self.currentValue { return value }
        let value = make()
        self.currentValue = value
        return value
    }
}
