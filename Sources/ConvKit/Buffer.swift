/// Float storage for the hot path: allocated once, zero-initialised, never copied or resized in
/// place. Layers, networks and optimizers keep their activations, gradients and state in these,
/// so a training step allocates nothing.
public final class Buffer {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    public init(count: Int) {
        precondition(count >= 0)
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { pointer.deallocate() }

    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    public func copy(from values: [Float]) {
        precondition(values.count == count, "copying \(values.count) values into a buffer of \(count)")
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: count) }
    }

    public func fill(_ value: Float) { pointer.update(repeating: value, count: count) }
}

/// A buffer sized for a batch of `perSample`-float items that grows, never shrinks, when a
/// larger batch is asked for.
public final class BatchBuffer {
    public let perSample: Int
    public private(set) var buffer: Buffer
    public private(set) var capacity: Int

    public init(perSample: Int, capacity: Int = 1) {
        self.perSample = perSample
        self.capacity = capacity
        buffer = Buffer(count: perSample * capacity)
    }

    public func reserve(_ batch: Int) {
        guard batch > capacity else { return }
        capacity = batch
        buffer = Buffer(count: perSample * batch)
    }

    public var pointer: UnsafeMutablePointer<Float> { buffer.pointer }
}
